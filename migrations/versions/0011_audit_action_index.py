"""audit events indexed by action, so that an erasure finds the few that name an address

Revision ID: 0011_audit_action_index
Revises: 0010_proposal_numbers
Create Date: 2026-12-02 03:05:00

"""
from alembic import op


revision = '0011_audit_action_index'
down_revision = '0010_proposal_numbers'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_audit_events_action', 'audit_events', ['action'], unique=False)


def downgrade():
    op.drop_index('ix_audit_events_action', table_name='audit_events')
