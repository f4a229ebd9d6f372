"""group privacy settings and members' regions

Revision ID: 0003_group_privacy
Revises: 0002_members_data
Create Date: 2026-11-22 06:36:03.413556

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_group_privacy'
down_revision = '0002_members_data'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('region', sa.String(length=100), nullable=True))
    op.add_column('users', sa.Column('region_key', sa.String(length=100), nullable=True))
    op.create_index(op.f('ix_users_region_key'), 'users', ['region_key'], unique=False)
    op.add_column('users', sa.Column('region_changed_at', sa.DateTime(timezone=True), nullable=True))
    version = op.create_table('analytics_data_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_data_version'))
    )
    op.bulk_insert(version, [{'id': 1, 'value': 0}])
    op.create_table('analytics_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('fingerprint', sa.String(length=400), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_analytics_snapshots_group_id_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_snapshots')),
    sa.UniqueConstraint('group_id', 'key', name=op.f('uq_analytics_snapshots_group_id'))
    )

    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('k_anonymity', sa.Integer(), server_default='5', nullable=False))
        batch_op.add_column(sa.Column('company_k', sa.Integer(), server_default='10', nullable=False))
        batch_op.add_column(sa.Column('noise_epsilon_milli', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('privacy_budget_spent_milli', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_check_constraint('k_minimum', 'k_anonymity >= 3')
        batch_op.create_check_constraint('company_k_minimum', 'company_k >= k_anonymity')


def downgrade():
    # Not a batch on SQLite: copying the users table would trip the consent-log triggers.
    op.drop_table('analytics_snapshots')
    op.drop_table('analytics_data_version')
    op.drop_index(op.f('ix_users_region_key'), table_name='users')
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE users DROP COLUMN region_changed_at')
        op.execute('ALTER TABLE users DROP COLUMN region_key')
        op.execute('ALTER TABLE users DROP COLUMN region')
    else:
        op.drop_column('users', 'region_changed_at')
        op.drop_column('users', 'region_key')
        op.drop_column('users', 'region')

    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_constraint('company_k_minimum', type_='check')
        batch_op.drop_constraint('k_minimum', type_='check')
        batch_op.drop_column('privacy_budget_spent_milli')
        batch_op.drop_column('noise_epsilon_milli')
        batch_op.drop_column('company_k')
        batch_op.drop_column('k_anonymity')


