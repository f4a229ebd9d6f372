"""The account's part in a person's export and erasure (see ``tecopio/privacy/registry.py``)."""

import secrets

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.db import utcnow
from tecopio.privacy.registry import columns_of, register_personal_data

# Columns never exported: the password's hash is a secret, and of no use to its owner.
SECRET_COLUMNS = frozenset({"password_hash"})


def export_account(session: Session, user: User) -> dict:
    return columns_of(user, skip=SECRET_COLUMNS)


def erase_account_fields(session: Session, user: User) -> None:
    """Everything that identifies the person goes; the row and its number stay."""
    user.email = f"erased-{user.id}@erased.invalid"
    user.display_name = ""
    user.password_hash = "!" + secrets.token_hex(16)
    user.locale = None
    user.region = None
    user.region_key = None
    user.region_changed_at = utcnow()
    user.email_notifications = False
    user.is_platform_admin = False
    user.session_version += 1


def register() -> None:
    register_personal_data(
        "account",
        table="users",
        title=_l("Account"),
        export=export_account,
        erase=erase_account_fields,
        deleted=_l(
            "Your email address, name, password, language and region, and whether you want emails."
        ),
        kept=_l(
            "An account number with nothing that identifies you, so that the records other "
            'members rely on stay consistent: group logs of past admin actions show "a former '
            'user".'
        ),
        withheld=_l(
            "Not included: your password, which Tecopio keeps only as a one-way hash (a secret, "
            "and of no use to you). Links sent by email and log-in cookies are signed, not "
            "stored, so there is nothing of them to include."
        ),
    )
