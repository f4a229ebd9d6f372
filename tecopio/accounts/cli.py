"""Operator commands: ``flask users grant-admin EMAIL`` and ``flask users revoke-admin EMAIL``."""

import click

from tecopio.accounts.services import find_user_by_email
from tecopio.audit.services import record
from tecopio.db import db


def _set_platform_admin(email: str, value: bool) -> None:
    user = find_user_by_email(db.session, email)
    if user is None or user.erased_at is not None:
        raise click.ClickException(f"No account with the email {email}.")
    user.is_platform_admin = value
    record(
        db.session,
        "platform.admin_granted" if value else "platform.admin_revoked",
        target_user=user,
    )
    db.session.commit()
    click.echo(f"{user.email} is {'now' if value else 'no longer'} a platform admin.")


def init_app(app) -> None:
    @app.cli.group("users")
    def users_cli():
        """Accounts."""

    @users_cli.command("grant-admin")
    @click.argument("email")
    def grant_admin(email: str):
        """Make an account a platform admin (merges directory duplicates)."""
        _set_platform_admin(email, True)

    @users_cli.command("revoke-admin")
    @click.argument("email")
    def revoke_admin(email: str):
        """Take platform admin rights away from an account."""
        _set_platform_admin(email, False)
