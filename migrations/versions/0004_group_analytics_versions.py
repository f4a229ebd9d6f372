"""analytics counters per group, snapshots that may be shown while being refreshed

Revision ID: 0004_analytics_versions
Revises: 0003_group_privacy
Create Date: 2026-11-22 08:30:00

Snapshots are a cache: the old ones are dropped rather than converted.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_analytics_versions'
down_revision = '0003_group_privacy'
branch_labels = None
depends_on = None


def _snapshots(counters):
    op.create_table('analytics_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    *counters,
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_analytics_snapshots_group_id_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_snapshots')),
    sa.UniqueConstraint('group_id', 'key', name=op.f('uq_analytics_snapshots_group_id'))
    )


def upgrade():
    versions = op.create_table('analytics_versions',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.Column('removals', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_analytics_versions_group_id_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', name=op.f('pk_analytics_versions'))
    )
    groups = sa.table('groups', sa.column('id', sa.Integer))
    op.execute(
        versions.insert().from_select(
            ['group_id', 'changes', 'removals'],
            sa.select(groups.c.id, sa.literal(0), sa.literal(0)),
        )
    )
    op.drop_table('analytics_snapshots')
    _snapshots([
        sa.Column('changes', sa.Integer(), nullable=False),
        sa.Column('removals', sa.Integer(), nullable=False),
    ])
    op.drop_table('analytics_data_version')


def downgrade():
    version = op.create_table('analytics_data_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_data_version'))
    )
    op.bulk_insert(version, [{'id': 1, 'value': 0}])
    op.drop_table('analytics_snapshots')
    _snapshots([sa.Column('fingerprint', sa.String(length=400), nullable=False)])
    op.drop_table('analytics_versions')
