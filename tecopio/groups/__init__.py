"""Cooperative groups, their memberships and invitations."""
