"""Notifications in a person's export and erasure (see ``tecopio/privacy/registry.py``)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.notifications.models import Notification
from tecopio.privacy.registry import iso, register_personal_data


def export_notifications(session: Session, user: User) -> list[dict]:
    notifications = session.scalars(
        select(Notification)
        .where(Notification.user_id == user.id)
        .options(
            joinedload(Notification.group),
            joinedload(Notification.proposal),
            joinedload(Notification.membership),
            joinedload(Notification.invitation),
        )
        .order_by(Notification.created_at, Notification.id)
    )
    return [
        {
            "id": n.id,
            "kind": n.kind.value,
            "group": n.group.name,
            "proposal": n.proposal.title if n.proposal else None,
            "created_at": iso(n.created_at),
            "read_at": iso(n.read_at),
            "emailed_at": iso(n.emailed_at),
        }
        for n in notifications
    ]


def erase_notifications(session: Session, user: User) -> None:
    session.execute(delete(Notification).where(Notification.user_id == user.id))


def register() -> None:
    register_personal_data(
        "notifications",
        table="notifications",
        title=_l("Notifications"),
        export=export_notifications,
        erase=erase_notifications,
        deleted=_l("Your notifications."),
    )
