"""Payments through Stripe: Checkout Sessions on payments, the provider's events kept once,
refunds and chargebacks in the ledger, payments kept for review; payouts by Connect
transfer to the members' connected accounts, and payouts the provider returned

SQLite cannot change a CHECK constraint in place, and copying ``ledger_transactions``
into a new table would break its entries' deferred foreign key: its schema is
edited as SQLite documents for that case. On PostgreSQL the constraint is swapped.

Revision ID: 0020_stripe_payments
Revises: 0019_ledger
Create Date: 2026-12-07 07:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020_stripe_payments"
down_revision = "0019_ledger"
branch_labels = None
depends_on = None

KINDS_BEFORE = ("invoice", "payment", "payout_asked", "payout_paid", "reserve_spent", "reversal")
KINDS_AFTER = KINDS_BEFORE + ("refund", "chargeback")
PAYMENT_BEFORE = ("pending", "received", "failed")
PAYMENT_AFTER = PAYMENT_BEFORE + ("review", "given_back")
PAYOUT_BEFORE = ("asked", "paid", "cancelled")
PAYOUT_AFTER = PAYOUT_BEFORE + ("returned",)


def _enum(values, name):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def _change_check(table, column, enum_name, values_from, values_to):
    """Widen or narrow the CHECK constraint that holds ``table.column`` to its values."""
    constraint = f"ck_{table}_{enum_name}"
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f(constraint), table, type_="check")
        op.create_check_constraint(enum_name, table, sa.column(column).in_(values_to))
        return
    # SQLite would copy the table to change a CHECK constraint, and dropping the old copy
    # breaks the foreign keys that point at it (the ledger's entries, its transactions);
    # SQLite documents this edit of the schema instead, for a constraint every row meets
    # ("ALTER TABLE", section 7).
    bind = op.get_bind()
    old_sql = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": table},
    ).scalar_one()
    listed = ", ".join(f"'{value}'" for value in values_from)
    wanted = ", ".join(f"'{value}'" for value in values_to)
    old_check = f"CONSTRAINT {constraint} CHECK ({column} IN ({listed}))"
    if old_check not in old_sql:
        raise RuntimeError(f"unexpected schema of {table}: {old_sql}")
    new_sql = old_sql.replace(old_check, f"CONSTRAINT {constraint} CHECK ({column} IN ({wanted}))")
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :name"),
        {"sql": new_sql, "name": table},
    )
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def upgrade():
    op.create_table(
        "provider_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            _enum(
                ("received", "processed", "ignored", "review", "dismissed"),
                "provider_event_status",
            ),
            nullable=False,
        ),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_provider_events_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_events")),
        sa.UniqueConstraint("provider", "event_id", name=op.f("uq_provider_events_provider")),
    )
    with op.batch_alter_table("provider_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_events_payment_id"), ["payment_id"])

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkout_session_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("checkout_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("payment_intent_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_payments_checkout_session_id"), ["checkout_session_id"]
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_payments_payment_intent_id"), ["payment_intent_id"]
        )
        batch_op.alter_column(
            "status",
            existing_type=_enum(PAYMENT_BEFORE, "payment_status"),
            type_=_enum(PAYMENT_AFTER, "payment_status"),
            existing_nullable=False,
        )
    # The ledger's transactions point at payouts: the table is changed where it stands.
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transfer_id", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("transfer_refusals", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index(batch_op.f("ix_payouts_transfer_id"), ["transfer_id"], unique=True)
    _change_check("payouts", "status", "payout_status", PAYOUT_BEFORE, PAYOUT_AFTER)
    op.create_table(
        "payout_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_payout_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_accounts")),
        sa.UniqueConstraint("account_id", name=op.f("uq_payout_accounts_account_id")),
        sa.UniqueConstraint("user_id", "provider", name=op.f("uq_payout_accounts_user_id")),
    )
    _change_check(
        "ledger_transactions", "kind", "ledger_transaction_kind", KINDS_BEFORE, KINDS_AFTER
    )


def downgrade():
    bind = op.get_bind()
    if bind.execute(
        sa.text("SELECT COUNT(*) FROM ledger_transactions WHERE kind IN ('refund', 'chargeback')")
    ).scalar():
        raise RuntimeError("the ledger holds refunds or chargebacks: it cannot go back")
    _change_check(
        "ledger_transactions", "kind", "ledger_transaction_kind", KINDS_AFTER, KINDS_BEFORE
    )
    op.drop_table("payout_accounts")
    op.execute("UPDATE payouts SET status = 'cancelled' WHERE status = 'returned'")
    _change_check("payouts", "status", "payout_status", PAYOUT_AFTER, PAYOUT_BEFORE)
    op.drop_index(op.f("ix_payouts_transfer_id"), table_name="payouts")
    for column in ("transfer_refusals", "transfer_id"):  # in place, as above
        op.execute(f"ALTER TABLE payouts DROP COLUMN {column}")
    op.execute("UPDATE payments SET status = 'pending' WHERE status IN ('review', 'given_back')")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=_enum(PAYMENT_AFTER, "payment_status"),
            type_=_enum(PAYMENT_BEFORE, "payment_status"),
            existing_nullable=False,
        )
        batch_op.drop_constraint(batch_op.f("uq_payments_payment_intent_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_payments_checkout_session_id"), type_="unique")
        batch_op.drop_column("synced_at")
        batch_op.drop_column("payment_intent_id")
        batch_op.drop_column("checkout_url")
        batch_op.drop_column("checkout_session_id")
    with op.batch_alter_table("provider_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_events_payment_id"))
    op.drop_table("provider_events")
