"""Audit log: who did what, to whom, in which group, and when."""
