"""Accounts: sign-up, log-in, sessions, passwords and profiles."""
