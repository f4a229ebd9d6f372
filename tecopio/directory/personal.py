"""The directory's part in a person's export and erasure (see ``tecopio/privacy/registry.py``)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.directory.models import Company
from tecopio.privacy.registry import iso, register_personal_data


def export_companies_added(session: Session, user: User) -> list[dict]:
    companies = session.scalars(
        select(Company).where(Company.created_by_id == user.id).order_by(Company.id)
    )
    return [
        {"id": c.id, "name": c.name, "website": c.website, "created_at": iso(c.created_at)}
        for c in companies
    ]


def register() -> None:
    register_personal_data(
        "companies_added",
        table="companies",
        title=_l("Companies you added to the directory"),
        export=export_companies_added,
        kept=_l("Companies you added to the directory, without your name."),
    )
