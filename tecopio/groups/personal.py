"""Groups' part in a person's export and erasure (see ``tecopio/privacy/registry.py``)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.db import utcnow
from tecopio.groups.models import Group, Invitation, Membership, MembershipStatus, Role
from tecopio.privacy.registry import iso, register_personal_data


def export_memberships(session: Session, user: User) -> list[dict]:
    memberships = session.scalars(
        select(Membership)
        .options(joinedload(Membership.group))
        .where(Membership.user_id == user.id)
        .order_by(Membership.created_at, Membership.id)
    )
    return [
        {
            "id": m.id,
            "group": m.group.name,
            "group_slug": m.group.slug,
            "role": m.role.value,
            "status": m.status.value,
            "created_at": iso(m.created_at),
            "updated_at": iso(m.updated_at),
            "active_since": iso(m.active_since),
        }
        for m in memberships
    ]


def erase_memberships(session: Session, user: User) -> None:
    session.execute(
        update(Membership)
        .where(
            Membership.user_id == user.id,
            Membership.status.in_([MembershipStatus.ACTIVE, MembershipStatus.PENDING]),
        )
        .values(status=MembershipStatus.LEFT, role=Role.MEMBER, updated_at=utcnow())
    )


def _invitations(session: Session, condition) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .options(joinedload(Invitation.group))
            .where(condition)
            .order_by(Invitation.created_at, Invitation.id)
        )
    )


def _invitation(invitation: Invitation) -> dict:
    """An invitation without the address it went to."""
    return {
        "id": invitation.id,
        "group": invitation.group.name,
        "status": invitation.status.value,
        "sent_at": iso(invitation.created_at),
        "expires_at": iso(invitation.expires_at),
        "responded_at": iso(invitation.responded_at),
    }


def export_invitations_received(session: Session, user: User) -> list[dict]:
    return [
        {**_invitation(i), "email": i.email}
        for i in _invitations(session, Invitation.email == user.email)
    ]


def erase_invitations_received(session: Session, user: User) -> None:
    session.execute(delete(Invitation).where(Invitation.email == user.email))


def export_invitations_sent(session: Session, user: User) -> list[dict]:
    # The address invited is the other person's, not the sender's: left out.
    return [_invitation(i) for i in _invitations(session, Invitation.invited_by_id == user.id)]


def export_groups_created(session: Session, user: User) -> list[dict]:
    groups = session.scalars(select(Group).where(Group.created_by_id == user.id).order_by(Group.id))
    return [
        {
            "id": g.id,
            "name": g.name,
            "slug": g.slug,
            "region": g.region,
            "created_at": iso(g.created_at),
        }
        for g in groups
    ]


def register() -> None:
    register_personal_data(
        "memberships",
        table="memberships",
        title=_l("Groups and roles"),
        export=export_memberships,
        erase=erase_memberships,
        kept=_l("Your memberships, marked as left, so that groups' histories add up."),
    )
    register_personal_data(
        "invitations",
        table="invitations",
        title=_l("Invitations to your address"),
        export=export_invitations_received,
        erase=erase_invitations_received,
        deleted=_l("Invitations sent to your address."),
    )
    register_personal_data(
        "invitations_sent",
        table="invitations",
        title=_l("Invitations you sent"),
        export=export_invitations_sent,
        kept=_l("Invitations you sent, without your name: they are part of the group's record."),
        withheld=_l(
            "Not included: the addresses you sent invitations to, which are those people's "
            "data. Your download says to which group you invited someone, when, and how they "
            "answered."
        ),
    )
    register_personal_data(
        "groups_created",
        table="groups",
        title=_l("Groups you created"),
        export=export_groups_created,
        kept=_l("Groups you created, without your name: they belong to their members."),
    )
