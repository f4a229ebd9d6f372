"""analytics published as releases: a new one once k members have changed each kind of data that changed

Revision ID: 0008_analytics_releases
Revises: 0007_notifications
Create Date: 2026-11-29 22:30:00

Snapshots are a cache of the current release: the old ones are dropped, and
each group's first view publishes its first release.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_analytics_releases'
down_revision = '0007_notifications'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(sa.text('DELETE FROM analytics_snapshots'))
    with op.batch_alter_table('analytics_versions') as batch:
        batch.add_column(sa.Column('release_number', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('released_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('released_changes', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('released_removals', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('released_rules', sa.String(length=200), nullable=True))
    op.create_table('analytics_changed_members',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('strand', sa.String(length=40), nullable=False),
    sa.Column('change', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_analytics_changed_members_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_analytics_changed_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'user_id', 'strand', name=op.f('pk_analytics_changed_members'))
    )


def downgrade():
    op.drop_table('analytics_changed_members')
    with op.batch_alter_table('analytics_versions') as batch:
        batch.drop_column('released_rules')
        batch.drop_column('released_removals')
        batch.drop_column('released_changes')
        batch.drop_column('released_at')
        batch.drop_column('release_number')
    op.execute(sa.text('DELETE FROM analytics_snapshots'))
