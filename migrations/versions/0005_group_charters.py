"""charters: versioned group rules; the group's own settings move into them

Revision ID: 0005_charters
Revises: 0004_analytics_versions
Create Date: 2026-11-22 08:40:00

Each existing group gets version 1 of its charter, carrying over its joining
policy, k, company threshold and noise; the rules it did not have take the
defaults of this revision (frozen here, not read from the app). Existing
groups' admins changed these settings themselves, so their charters let
admins change the charter.
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_charters'
down_revision = '0004_analytics_versions'
branch_labels = None
depends_on = None


def _document(policy, k, company_k, epsilon_milli):
    return {
        'privacy': {
            'k_anonymity': k,
            'company_k': company_k,
            'categories': 'all',
            'noise': epsilon_milli is not None,
            'noise_epsilon_milli': epsilon_milli or 1000,
        },
        'revenue': {
            'reserve_percent': 10,
            'split': 'equal',
            'points_preference': 1,
            'points_intent': 2,
            'points_feedback': 1,
            'points_commitment': 5,
        },
        'membership': {'policy': policy, 'admission': 'admins'},
        'decisions': {
            'quorum_percent': 20,
            'pass_percent': 50,
            'count_abstentions': False,
            'voting_days': 7,
            'charter_changes': 'admins',
        },
    }


def upgrade():
    versions = op.create_table('charter_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('adoption', sa.Enum('founding', 'admins', 'vote', name='charter_adoption', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('adopted_by_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['adopted_by_id'], ['users.id'], name=op.f('fk_charter_versions_adopted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_charter_versions_group_id_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charter_versions')),
    sa.UniqueConstraint('group_id', 'number', name=op.f('uq_charter_versions_group_id'))
    )
    op.create_index(op.f('ix_charter_versions_group_id'), 'charter_versions', ['group_id'], unique=False)

    groups = sa.table(
        'groups',
        sa.column('id', sa.Integer),
        sa.column('created_by_id', sa.Integer),
        sa.column('membership_policy', sa.String),
        sa.column('k_anonymity', sa.Integer),
        sa.column('company_k', sa.Integer),
        sa.column('noise_epsilon_milli', sa.Integer),
    )
    now = datetime.now(timezone.utc)
    rows = op.get_bind().execute(sa.select(groups)).all()
    if rows:
        op.bulk_insert(versions, [
            {
                'group_id': row.id,
                'number': 1,
                'rules': _document(row.membership_policy, row.k_anonymity, row.company_k, row.noise_epsilon_milli),
                'adoption': 'founding',
                'adopted_by_id': row.created_by_id,
                'reason': '',
                'created_at': now,
            }
            for row in rows
        ])

    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_constraint('company_k_minimum', type_='check')
        batch_op.drop_constraint('k_minimum', type_='check')
        batch_op.drop_constraint('membership_policy', type_='check')
        batch_op.drop_column('noise_epsilon_milli')
        batch_op.drop_column('company_k')
        batch_op.drop_column('k_anonymity')
        batch_op.drop_column('membership_policy')


def downgrade():
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('membership_policy', sa.Enum('open', 'approval', 'invitation', name='membership_policy', native_enum=False, create_constraint=True, length=20), server_default='approval', nullable=False))
        batch_op.add_column(sa.Column('k_anonymity', sa.Integer(), server_default='5', nullable=False))
        batch_op.add_column(sa.Column('company_k', sa.Integer(), server_default='10', nullable=False))
        batch_op.add_column(sa.Column('noise_epsilon_milli', sa.Integer(), nullable=True))
        batch_op.create_check_constraint('k_minimum', 'k_anonymity >= 3')
        batch_op.create_check_constraint('company_k_minimum', 'company_k >= k_anonymity')
    versions = sa.table(
        'charter_versions',
        sa.column('group_id', sa.Integer),
        sa.column('number', sa.Integer),
        sa.column('rules', sa.JSON),
    )
    groups = sa.table(
        'groups',
        sa.column('id', sa.Integer),
        sa.column('membership_policy', sa.String),
        sa.column('k_anonymity', sa.Integer),
        sa.column('company_k', sa.Integer),
        sa.column('noise_epsilon_milli', sa.Integer),
    )
    bind = op.get_bind()
    latest = {}
    for group_id, number, rules in bind.execute(sa.select(versions).order_by(versions.c.number)):
        latest[group_id] = rules
    for group_id, rules in latest.items():
        privacy = rules['privacy']
        bind.execute(
            groups.update().where(groups.c.id == group_id).values(
                membership_policy=rules['membership']['policy'],
                k_anonymity=privacy['k_anonymity'],
                company_k=privacy['company_k'],
                noise_epsilon_milli=privacy['noise_epsilon_milli'] if privacy['noise'] else None,
            )
        )
    op.drop_index(op.f('ix_charter_versions_group_id'), table_name='charter_versions')
    op.drop_table('charter_versions')
