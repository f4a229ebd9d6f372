"""notifications beyond votes: requests to join and their answers, removals, invitations

Revision ID: 0012_notifications_beyond_votes
Revises: 0011_audit_action_index
Create Date: 2026-12-02 06:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012_notifications_beyond_votes'
down_revision = '0011_audit_action_index'
branch_labels = None
depends_on = None

VOTE_KINDS = ('proposal_opened', 'proposal_closing')
ALL_KINDS = VOTE_KINDS + (
    'join_requested', 'join_approved', 'join_declined', 'member_removed', 'invited'
)


def _kind(kinds):
    return sa.Enum(
        *kinds, name='notification_kind', native_enum=False, create_constraint=True, length=20
    )


def upgrade():
    # No table refers to notifications and it has no triggers: a batch copy is safe. The
    # unique (user, proposal, kind) stays: a notice of another kind has no proposal.
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('proposal_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('membership_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('invitation_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_notifications_membership_id_memberships'),
            'memberships', ['membership_id'], ['id'], ondelete='CASCADE',
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_notifications_invitation_id_invitations'),
            'invitations', ['invitation_id'], ['id'], ondelete='CASCADE',
        )
        batch_op.alter_column(
            'kind', existing_type=_kind(VOTE_KINDS), type_=_kind(ALL_KINDS), existing_nullable=False
        )
        batch_op.create_index(batch_op.f('ix_notifications_proposal_id'), ['proposal_id'])
        batch_op.create_index(batch_op.f('ix_notifications_membership_id'), ['membership_id'])
        batch_op.create_index(batch_op.f('ix_notifications_invitation_id'), ['invitation_id'])


def downgrade():
    op.execute(
        "DELETE FROM notifications WHERE kind NOT IN ('proposal_opened', 'proposal_closing')"
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_invitation_id'))
        batch_op.drop_index(batch_op.f('ix_notifications_membership_id'))
        batch_op.drop_index(batch_op.f('ix_notifications_proposal_id'))
        batch_op.alter_column(
            'kind', existing_type=_kind(ALL_KINDS), type_=_kind(VOTE_KINDS), existing_nullable=False
        )
        batch_op.drop_constraint(
            batch_op.f('fk_notifications_invitation_id_invitations'), type_='foreignkey'
        )
        batch_op.drop_constraint(
            batch_op.f('fk_notifications_membership_id_memberships'), type_='foreignkey'
        )
        batch_op.drop_column('invitation_id')
        batch_op.drop_column('membership_id')
        batch_op.alter_column('proposal_id', existing_type=sa.Integer(), nullable=False)
