"""``flask ledger verify [--group SLUG]``: recompute every group's hash chain and sums.
``flask ledger catch-up``: finish what Stripe's events left pending (as the job does)."""

import click
from flask import current_app
from sqlalchemy import select

from tecopio.db import db
from tecopio.groups.models import Group
from tecopio.ledger import stripe_payments
from tecopio.ledger.models import LedgerTransaction
from tecopio.ledger.posting import verify


def verify_groups(slug: str | None) -> bool:
    """Print what each group's ledger verifies to; False if any breaks."""
    statement = (
        select(Group)
        .where(Group.id.in_(select(LedgerTransaction.group_id).distinct()))
        .order_by(Group.slug)
    )
    if slug is not None:
        statement = select(Group).where(Group.slug == slug)
    groups = db.session.scalars(statement).all()
    if slug is not None and not groups:
        raise click.ClickException(f"No group with the slug {slug}.")
    intact = True
    for group in groups:
        result = verify(db.session, group.id)
        if result.intact:
            click.echo(
                f"{group.slug}: intact ({result.transactions} transactions, "
                f"{result.entries} entries)"
            )
            continue
        intact = False
        for found in result.breaks:
            click.echo(f"{group.slug}: breaks at transaction {found.number}: {found.problem}")
    if not groups:
        click.echo("No ledger to verify yet.")
    return intact


def init_app(app) -> None:
    @app.cli.group("ledger")
    def ledger_cli():
        """The groups' money."""

    @ledger_cli.command("verify")
    @click.option("--group", "slug", default=None, help="Only this group (its slug).")
    def verify_command(slug: str | None):
        """Recompute each ledger's hash chain and sums from the rows; exit 1 where one breaks."""
        if not verify_groups(slug):
            raise SystemExit(1)

    @ledger_cli.command("catch-up")
    def catch_up_command():
        """Act on Stripe events a delivery left unfinished, and ask Stripe about payments
        still pending; what the scheduled job does every ten minutes."""
        config = current_app.config
        if config["PAYMENT_PROVIDER"] != stripe_payments.PROVIDER:
            raise click.ClickException("PAYMENT_PROVIDER is not stripe: nothing to catch up.")
        done = stripe_payments.catch_up(
            db.session,
            stripe_payments.client(config),
            fee_basis_points=config["PLATFORM_FEE_BASIS_POINTS"],
        )
        click.echo(
            f"{done['events']} events and {done['payments']} payments caught up, "
            f"{done['failed']} left for later (the payment service did not answer)."
        )
        if done["failed"]:
            raise SystemExit(1)
