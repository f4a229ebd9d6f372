"""sign-ups wait for their link: the form answers the same whether or not an address has an account

Revision ID: 0013_signup_requests
Revises: 0012_notifications_beyond_votes
Create Date: 2026-12-02 06:40:00

"""
from alembic import op
import sqlalchemy as sa



revision = '0013_signup_requests'
down_revision = '0012_notifications_beyond_votes'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signup_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('display_name', sa.String(length=80), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=True),
    sa.Column('next_url', sa.String(length=500), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signup_requests')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_signup_requests_token_digest'))
    )
    with op.batch_alter_table('signup_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signup_requests_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_signup_requests_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('signup_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signup_requests_expires_at'))
        batch_op.drop_index(batch_op.f('ix_signup_requests_email'))
    op.drop_table('signup_requests')
