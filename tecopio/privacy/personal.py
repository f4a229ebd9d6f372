"""Consent in a person's export and erasure (see ``tecopio/privacy/registry.py``)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.privacy.models import Consent, ConsentEvent
from tecopio.privacy.registry import iso, register_personal_data
from tecopio.privacy.services import consent_history


def export_consents(session: Session, user: User) -> list[dict]:
    consents = session.scalars(
        select(Consent)
        .options(joinedload(Consent.group), joinedload(Consent.category))
        .where(Consent.user_id == user.id)
        .order_by(Consent.group_id, Consent.category_id)
    )
    return [
        {
            "id": c.id,
            "group": c.group.name,
            "category": c.category.slug,
            "granted": c.granted,
            "updated_at": iso(c.updated_at),
        }
        for c in consents
    ]


def erase_consents(session: Session, user: User) -> None:
    session.execute(delete(Consent).where(Consent.user_id == user.id))


def export_consent_history(session: Session, user: User) -> list[dict]:
    return [
        {
            "id": e.id,
            "group": e.group.name,
            "category": e.category.slug,
            "granted": e.granted,
            "at": iso(e.created_at),
        }
        for e in consent_history(session, user)
    ]


def erase_consent_history(session: Session, user: User) -> None:
    # The database lets the log go only for an erased account (``erased_at`` set first).
    session.execute(delete(ConsentEvent).where(ConsentEvent.user_id == user.id))


def register() -> None:
    register_personal_data(
        "consents",
        table="consents",
        title=_l("Consent in force"),
        export=export_consents,
        erase=erase_consents,
        deleted=_l("Your consent choices."),
    )
    register_personal_data(
        "consent_history",
        table="consent_events",
        title=_l("Consent history"),
        export=export_consent_history,
        erase=erase_consent_history,
        deleted=_l("The history of your consent choices."),
    )
