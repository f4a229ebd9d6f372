from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from tecopio.audit.labels import COMPANY_DESCRIPTIONS, OFFER_WIDE
from tecopio.audit.models import AuditEvent

# The only actions whose details may hold a person's address (an admin invited it):
# an erasure finds them by action (indexed), never by searching every event's text.
ADDRESSED = frozenset(
    {"invitation.sent", "invitation.revoked", "staff.invited", "staff.invitation_revoked"}
)


def record(
    session: Session,
    action: str,
    *,
    actor=None,
    group=None,
    target_user=None,
    partner=None,
    offer=None,
    **details,
):
    """Add an audit event to the session; it is written with the action it describes.

    ``partner`` (a partner company) and ``offer`` (a demand offer) say what it concerns;
    the partner's slug is kept in the details too.
    """
    if "email" in details and action not in ADDRESSED:
        raise ValueError(f"{action} may not hold an address: add it to ADDRESSED")
    if partner is not None:
        details["partner"] = partner.slug
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor is not None else None,
        group_id=group.id if group is not None else None,
        target_user_id=target_user.id if target_user is not None else None,
        partner_id=partner.id if partner is not None else None,
        offer_id=offer.id if offer is not None else None,
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


COMPANY_ACTIONS = sorted({action.split(":")[0] for action in COMPANY_DESCRIPTIONS})


def company_events(session: Session, partner, invited_offers, *, page: int = 1, per_page: int = 50):
    """A page of a partner company's timeline, newest first, and the total count: the
    events that name it, and the outcome of every offer it was invited to
    (``invited_offers``: a select of those offers' ids)."""
    concerns = or_(
        and_(AuditEvent.partner_id == partner.id, AuditEvent.action.in_(COMPANY_ACTIONS)),
        and_(AuditEvent.offer_id.in_(invited_offers), AuditEvent.action.in_(OFFER_WIDE)),
    )
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(concerns))
    events = session.scalars(
        select(AuditEvent)
        .where(concerns)
        .options(
            selectinload(AuditEvent.actor),
            selectinload(AuditEvent.target_user),
            selectinload(AuditEvent.group),
        )
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return events, total
