"""The shared directory of companies and brands members talk about."""
