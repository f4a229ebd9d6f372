"""Consent, "my data", export and erasure: the member's control over their own data."""
