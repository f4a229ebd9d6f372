"""The audit log's part in a person's export and erasure (see ``tecopio/privacy/registry.py``).

The events that refer to a person: those they did (actor), those done to or
about them (target), and admins' invitations that name their address.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.audit.models import AuditEvent
from tecopio.audit.services import ADDRESSED
from tecopio.privacy.registry import iso, register_personal_data

# Actions that describe the member's own data rather than a group's history:
# erasure deletes them; the rest stay in the groups' logs, showing "a former user".
OWN_ACTIVITY = ("preference.", "intent.", "feedback.", "consent.", "data.", "platform.")


def _naming(email: str):
    """Events that name the address: the few addressed actions (indexed), compared exactly."""
    return and_(
        AuditEvent.action.in_(sorted(ADDRESSED)), AuditEvent.details["email"].as_string() == email
    )


def _events_of(session: Session, user: User) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                or_(
                    AuditEvent.actor_id == user.id,
                    AuditEvent.target_user_id == user.id,
                    _naming(user.email),
                )
            )
            .options(joinedload(AuditEvent.group))
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )
    )


def export_activity(session: Session, user: User) -> list[dict]:
    return [
        {
            "id": e.id,
            "at": iso(e.created_at),
            "action": e.action,
            "group": e.group.name if e.group else None,
            "by_you": e.actor_id == user.id,
            "about_you": e.target_user_id == user.id or e.details.get("email") == user.email,
            # An address the person invited is the invitee's, not theirs: left out.
            "details": {
                key: value
                for key, value in (e.details or {}).items()
                if key != "email" or value == user.email
            },
        }
        for e in _events_of(session, user)
    ]


def erase_activity(session: Session, user: User) -> None:
    session.execute(
        delete(AuditEvent).where(
            AuditEvent.target_user_id == user.id,
            or_(*(AuditEvent.action.startswith(prefix) for prefix in OWN_ACTIVITY)),
        )
    )
    # Admins' invitations named the address in the group's audit log.
    for event in session.scalars(select(AuditEvent).where(_naming(user.email))):
        event.details = {
            key: ("erased" if value == user.email else value)
            for key, value in event.details.items()
        }


def register() -> None:
    register_personal_data(
        "activity",
        table="audit_events",
        title=_l("Activity"),
        export=export_activity,
        erase=erase_activity,
        deleted=_l("Your activity timeline: what you recorded, shared, imported and downloaded."),
        kept=_l(
            "Logs of what you did as a member or admin, and of your joining and leaving "
            'groups, showing "a former user" instead of your name.'
        ),
        withheld=_l(
            "Not included: other people's names and addresses in the logs of what you did."
        ),
    )
