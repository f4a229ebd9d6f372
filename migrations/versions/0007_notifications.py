"""notifications of votes, in the app and by email for members who opt in

Revision ID: 0007_notifications
Revises: 0006_proposals
Create Date: 2026-11-22 08:56:23.769392

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_notifications'
down_revision = '0006_proposals'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('proposal_opened', 'proposal_closing', name='notification_kind', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('emailed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_notifications_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], name=op.f('fk_notifications_proposal_id_proposals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('user_id', 'proposal_id', 'kind', name=op.f('uq_notifications_user_id'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_user_id'), ['user_id'], unique=False)

    # Not a batch: copying the users table on SQLite would trip the consent-log triggers.
    op.add_column('users', sa.Column('email_notifications', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    # Not a batch on SQLite: copying the users table would trip the consent-log triggers.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE users DROP COLUMN email_notifications')
    else:
        op.drop_column('users', 'email_notifications')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_user_id'))

    op.drop_table('notifications')
