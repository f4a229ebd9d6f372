"""proposals numbered within their group, so that URLs tell nothing of other groups

Revision ID: 0010_proposal_numbers
Revises: 0009_analytics_basis
Create Date: 2026-12-02 03:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_proposal_numbers'
down_revision = '0009_analytics_basis'
branch_labels = None
depends_on = None


def upgrade():
    # Not a batch: copying the proposals table on SQLite would cascade to its votes.
    op.add_column(
        'proposals', sa.Column('number', sa.Integer(), server_default='0', nullable=False)
    )
    # Existing proposals: 1, 2, … in each group, in the order they were opened.
    op.execute(
        "UPDATE proposals SET number = (SELECT COUNT(*) FROM proposals AS earlier "
        "WHERE earlier.group_id = proposals.group_id AND earlier.id <= proposals.id)"
    )
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column('proposals', 'number', server_default=None)
    op.create_index(
        'uq_proposals_group_id_number', 'proposals', ['group_id', 'number'], unique=True
    )


def downgrade():
    op.drop_index('uq_proposals_group_id_number', table_name='proposals')
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_column('number')
