from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from tecopio.audit.models import AuditEvent

# The only actions whose details may hold a person's address (an admin invited it):
# an erasure finds them by action (indexed), never by searching every event's text.
ADDRESSED = frozenset(
    {"invitation.sent", "invitation.revoked", "staff.invited", "staff.invitation_revoked"}
)


def record(session: Session, action: str, *, actor=None, group=None, target_user=None, **details):
    """Add an audit event to the session; it is written with the action it describes."""
    if "email" in details and action not in ADDRESSED:
        raise ValueError(f"{action} may not hold an address: add it to ADDRESSED")
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor is not None else None,
        group_id=group.id if group is not None else None,
        target_user_id=target_user.id if target_user is not None else None,
        details=details,
    )
    session.add(event)
    return event


def group_events(session: Session, group, *, page: int = 1, per_page: int = 50):
    """A page of a group's audit events, newest first, and the total count."""
    total = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.group_id == group.id)
    )
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.group_id == group.id)
        .options(selectinload(AuditEvent.actor), selectinload(AuditEvent.target_user))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return events, total
