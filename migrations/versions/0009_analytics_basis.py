"""analytics basis: each release keeps the rows it was computed from, to compare the next one with row by row

Revision ID: 0009_analytics_basis
Revises: 0008_analytics_releases
Create Date: 2026-12-01 22:05:52

Releases published before this revision kept no basis: the first release
after it is compared with nothing, as a group's first release is.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_analytics_basis'
down_revision = '0008_analytics_releases'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('analytics_basis_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('member', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('root_id', sa.Integer(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=True),
    sa.Column('unit', sa.String(length=20), nullable=True),
    sa.Column('budget_min', sa.Integer(), nullable=True),
    sa.Column('budget_max', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('window_start', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=True),
    sa.Column('importance', sa.Integer(), nullable=True),
    sa.Column('values', sa.JSON(), nullable=True),
    sa.Column('company_id', sa.Integer(), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('commented', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('region_key', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_analytics_basis_items_group_id_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_basis_items'))
    )
    with op.batch_alter_table('analytics_basis_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analytics_basis_items_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_analytics_basis_items_member'), ['member'], unique=False)

    op.create_table('analytics_basis_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('member', sa.Integer(), nullable=False),
    sa.Column('preference_id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('stance', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_analytics_basis_links_group_id_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_basis_links'))
    )
    with op.batch_alter_table('analytics_basis_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analytics_basis_links_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_analytics_basis_links_member'), ['member'], unique=False)

    op.create_table('analytics_basis_segments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('member', sa.Integer(), nullable=False),
    sa.Column('page', sa.String(length=200), nullable=False),
    sa.Column('segment', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_analytics_basis_segments_group_id_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_basis_segments'))
    )
    with op.batch_alter_table('analytics_basis_segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analytics_basis_segments_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_analytics_basis_segments_member'), ['member'], unique=False)

    op.create_table('analytics_held_parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('cell', sa.String(length=300), nullable=False),
    sa.Column('member', sa.Integer(), nullable=False),
    sa.Column('part', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_analytics_held_parts_group_id_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_held_parts')),
    sa.UniqueConstraint('group_id', 'cell', 'member', name=op.f('uq_analytics_held_parts_group_id'))
    )
    with op.batch_alter_table('analytics_held_parts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analytics_held_parts_member'), ['member'], unique=False)

    with op.batch_alter_table('analytics_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('released_meta', sa.Text(), nullable=True))



def downgrade():
    with op.batch_alter_table('analytics_versions', schema=None) as batch_op:
        batch_op.drop_column('released_meta')

    with op.batch_alter_table('analytics_held_parts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analytics_held_parts_member'))

    op.drop_table('analytics_held_parts')
    with op.batch_alter_table('analytics_basis_segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analytics_basis_segments_member'))
        batch_op.drop_index(batch_op.f('ix_analytics_basis_segments_group_id'))

    op.drop_table('analytics_basis_segments')
    with op.batch_alter_table('analytics_basis_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analytics_basis_links_member'))
        batch_op.drop_index(batch_op.f('ix_analytics_basis_links_group_id'))

    op.drop_table('analytics_basis_links')
    with op.batch_alter_table('analytics_basis_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analytics_basis_items_member'))
        batch_op.drop_index(batch_op.f('ix_analytics_basis_items_group_id'))

    op.drop_table('analytics_basis_items')
