"""Members' own data in their export and erasure (see ``tecopio/privacy/registry.py``)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.memberdata.models import Feedback, Intent, Preference, Stance
from tecopio.memberdata.services import feedback_of, intents_of, preferences_of
from tecopio.privacy.registry import iso, register_personal_data


def _slug(category) -> str | None:
    return category.slug if category is not None else None


def export_preferences(session: Session, user: User) -> list[dict]:
    return [
        {
            "id": p.id,
            "category": _slug(p.category),
            "importance": p.importance,
            "values": list(p.values),
            "liked": [c.name for c in p.companies_with(Stance.LIKE)],
            "avoided": [c.name for c in p.companies_with(Stance.AVOID)],
            "note": p.note,
            "created_at": iso(p.created_at),
            "updated_at": iso(p.updated_at),
        }
        for p in preferences_of(session, user)
    ]


def export_intents(session: Session, user: User) -> list[dict]:
    return [
        {
            "id": i.id,
            "category": _slug(i.category),
            "description": i.description,
            "quantity": i.quantity,
            "unit": i.unit,
            "budget_min_minor_units": i.budget_min,
            "budget_max_minor_units": i.budget_max,
            "currency": i.currency,
            "window_start": iso(i.window_start),
            "window_end": iso(i.window_end),
            "status": i.status.value,
            "created_at": iso(i.created_at),
            "updated_at": iso(i.updated_at),
        }
        for i in intents_of(session, user)
    ]


def export_feedback(session: Session, user: User) -> list[dict]:
    return [
        {
            "id": f.id,
            "company": f.company.name,
            "category": _slug(f.category),
            "rating": f.rating,
            "text": f.body,
            "visibility": f.visibility.value,
            "created_at": iso(f.created_at),
            "updated_at": iso(f.updated_at),
        }
        for f in feedback_of(session, user)
    ]


def _eraser(model):
    def erase(session: Session, user: User) -> None:
        session.execute(delete(model).where(model.user_id == user.id))

    return erase


def register() -> None:
    register_personal_data(
        "preferences",
        table="preferences",
        title=_l("Preferences"),
        export=export_preferences,
        erase=_eraser(Preference),
        deleted=_l("Your preferences, so they leave every group's totals."),
    )
    register_personal_data(
        "intents",
        table="intents",
        title=_l("Purchase intents"),
        export=export_intents,
        erase=_eraser(Intent),
        deleted=_l("Your purchase intents, so they leave every group's totals."),
    )
    register_personal_data(
        "feedback",
        table="feedback",
        title=_l("Feedback"),
        export=export_feedback,
        erase=_eraser(Feedback),
        deleted=_l("Your feedback on companies, so it leaves every group's totals."),
    )
