"""Group rules: creating and finding groups, joining and leaving, admin actions, invitations.

Functions here change the session and flush; the caller commits. Who may call
an admin action is decided by ``tecopio.policy``; these functions keep the
group's own invariants (one membership per person, at least one admin, valid
state changes).
"""

import re
import unicodedata
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, joinedload

from tecopio import events, tokens
from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.db import utcnow
from tecopio.governance.charters import current_charter, found_charter
from tecopio.groups.models import (
    Group,
    InvalidMembershipTransition,
    Invitation,
    InvitationStatus,
    Membership,
    MembershipEvent,
    MembershipPolicy,
    MembershipStatus,
    Role,
    next_membership_status,
)
from tecopio.text import clean_line, clean_paragraphs, first_free_slug, normalise_email

NAME_MAX = 100
REGION_MAX = 100
DESCRIPTION_MAX = 4000
INVITATION_PURPOSE = "invitation"


class GroupError(Exception):
    message = _l("This could not be done.")

    def __init__(self, message=None):
        super().__init__(str(message or self.message))
        if message is not None:
            self.message = message


class AlreadyMember(GroupError):
    message = _l("You are already a member of this group.")


class RequestAlreadyPending(GroupError):
    message = _l("Your request to join is already waiting for an admin.")


class InvitationRequired(GroupError):
    message = _l("This group admits members by invitation only.")


class JoinRefused(GroupError):
    message = _l("You cannot rejoin this group on your own. Ask an admin to invite you.")


class NotAMember(GroupError):
    message = _l("You are not a member of this group.")


class LastAdmin(GroupError):
    message = _l("A group must keep at least one admin. Make another member admin first.")


class InvalidMemberAction(GroupError):
    message = _l("This action does not apply to this member now.")


class InvitationInvalid(GroupError):
    message = _l("This invitation link is not valid.")


class InvitationExpired(GroupError):
    message = _l("This invitation has expired. Ask the group's admins for a new one.")


class InvitationNotForYou(GroupError):
    message = _l("This invitation was sent to another email address.")


class InvitationUsed(GroupError):
    message = _l("This invitation has already been answered or was withdrawn.")


class InviteeAlreadyMember(GroupError):
    message = _l("This person is already a member of the group.")


# --- groups -----------------------------------------------------------------


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:80] or "group"


# Words used by group URLs themselves (/groups/new).
RESERVED_SLUGS = frozenset({"new"})


def _unique_slug(session: Session, name: str) -> str:
    base = slugify(name)
    taken = set(session.scalars(select(Group.slug).where(Group.slug.startswith(base))))
    return first_free_slug(base, taken | RESERVED_SLUGS)


def _clean_group_fields(name, description, region):
    return {
        "name": clean_line(name, max_length=NAME_MAX),
        "description": clean_paragraphs(description, max_length=DESCRIPTION_MAX),
        "region": clean_line(region, max_length=REGION_MAX, required=False),
    }


def create_group(
    session: Session,
    creator: User,
    *,
    name: str,
    description: str,
    region: str,
    policy: str,
    rules: dict | None = None,
) -> Group:
    """Create a group and found its charter; its creator becomes its first admin.

    ``policy`` is who may join; ``rules`` other charter rules (flat paths)
    that differ from the defaults.
    """
    fields = _clean_group_fields(name, description, region)
    group = Group(slug=_unique_slug(session, fields["name"]), created_by_id=creator.id, **fields)
    session.add(group)
    session.flush()
    session.add(
        Membership(group=group, user=creator, role=Role.ADMIN, status=MembershipStatus.ACTIVE)
    )
    record(session, "group.created", actor=creator, group=group, name=group.name)
    found_charter(
        session,
        group,
        creator,
        {"membership.policy": MembershipPolicy(policy).value, **(rules or {})},
    )
    session.flush()
    return group


def update_group(
    session: Session, actor: User, group: Group, *, name: str, description: str, region: str
) -> None:
    """The group's name, description and region (its rules are in its charter)."""
    fields = _clean_group_fields(name, description, region)
    changed = {key: str(value) for key, value in fields.items() if getattr(group, key) != value}
    for key, value in fields.items():
        setattr(group, key, value)
    if changed:
        record(session, "group.updated", actor=actor, group=group, changed=sorted(changed))
    session.flush()


def get_group(session: Session, slug: str) -> Group | None:
    return session.scalar(select(Group).where(Group.slug == slug))


def _active_count_column():
    return (
        select(func.count(Membership.id))
        .where(Membership.group_id == Group.id, Membership.status == MembershipStatus.ACTIVE)
        .correlate(Group)
        .scalar_subquery()
    )


def search_groups(session: Session, query: str = "", *, page: int = 1, per_page: int = 20):
    """Groups whose name or region contains ``query``, with their active member counts.

    Returns ``([(group, member_count), ...], total)``; one query for the page.
    """
    condition = True
    query = (query or "").strip()[:100]
    if query:
        condition = or_(
            Group.name.icontains(query, autoescape=True),
            Group.region.icontains(query, autoescape=True),
        )
    total = session.scalar(select(func.count(Group.id)).where(condition))
    rows = session.execute(
        select(Group, _active_count_column().label("members"))
        .where(condition)
        .order_by(func.lower(Group.name), Group.id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    ).all()
    return [(row.Group, row.members) for row in rows], total


def active_member_counts(session: Session, group_ids: list[int]) -> dict[int, int]:
    """Active members of each of these groups, in one query."""
    if not group_ids:
        return {}
    rows = session.execute(
        select(Membership.group_id, func.count(Membership.id))
        .where(Membership.group_id.in_(group_ids), Membership.status == MembershipStatus.ACTIVE)
        .group_by(Membership.group_id)
    )
    return dict(rows.all())


def invitations_for(session: Session, user: User, now=None) -> list[Invitation]:
    """Pending, unexpired invitations to the person's address, with their groups."""
    return list(
        session.scalars(
            select(Invitation)
            .options(joinedload(Invitation.group))
            .where(
                Invitation.email == normalise_email(user.email),
                Invitation.status == InvitationStatus.PENDING,
                Invitation.expires_at > (now or utcnow()),
            )
            .order_by(Invitation.expires_at)
        )
    )


def active_member_count(session: Session, group: Group) -> int:
    return session.scalar(
        select(func.count(Membership.id)).where(
            Membership.group_id == group.id, Membership.status == MembershipStatus.ACTIVE
        )
    )


# --- memberships ------------------------------------------------------------


def membership_of(session: Session, user: User, group: Group) -> Membership | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return session.scalar(
        select(Membership).where(Membership.group_id == group.id, Membership.user_id == user.id)
    )


def memberships_of_user(session: Session, user: User) -> list[Membership]:
    """The user's active and pending memberships, with their groups."""
    return list(
        session.scalars(
            select(Membership)
            .join(Membership.group)
            .options(joinedload(Membership.group))
            .where(
                Membership.user_id == user.id,
                Membership.status.in_([MembershipStatus.ACTIVE, MembershipStatus.PENDING]),
            )
            .order_by(func.lower(Group.name))
        )
    )


def pending_request_counts(session: Session, groups: list[Group]) -> dict[int, int]:
    """How many requests to join wait in each of these groups, in one query."""
    if not groups:
        return {}
    rows = session.execute(
        select(Membership.group_id, func.count(Membership.id))
        .where(
            Membership.group_id.in_([group.id for group in groups]),
            Membership.status == MembershipStatus.PENDING,
        )
        .group_by(Membership.group_id)
    )
    return {group_id: count for group_id, count in rows}


def list_memberships(
    session: Session,
    group: Group,
    status: MembershipStatus,
    *,
    query: str = "",
    page: int = 1,
    per_page: int | None = None,
):
    """Memberships of one status, admins first, then by name; users loaded in the same query.

    With ``per_page``: one page of those whose name contains ``query``, and how many match.
    """
    condition = and_(Membership.group_id == group.id, Membership.status == status)
    query = (query or "").strip()[:100]
    if query:
        condition = and_(condition, User.display_name.icontains(query, autoescape=True))
    statement = (
        select(Membership)
        .join(Membership.user)
        .options(joinedload(Membership.user))
        .where(condition)
        .order_by(
            case((Membership.role == Role.ADMIN, 0), else_=1),
            func.lower(User.display_name),
            Membership.id,
        )
    )
    if per_page is None:
        return list(session.scalars(statement))
    total = session.scalar(select(func.count(Membership.id)).join(Membership.user).where(condition))
    rows = session.scalars(statement.limit(per_page).offset((max(page, 1) - 1) * per_page))
    return list(rows), total


def _lock_group(session: Session, group: Group) -> None:
    """Serialise changes to a group's admins (PostgreSQL row lock; SQLite has one writer)."""
    session.execute(select(Group.id).where(Group.id == group.id).with_for_update())


def _admin_count(session: Session, group: Group) -> int:
    return session.scalar(
        select(func.count(Membership.id)).where(
            Membership.group_id == group.id,
            Membership.status == MembershipStatus.ACTIVE,
            Membership.role == Role.ADMIN,
        )
    )


def is_last_admin(session: Session, membership: Membership) -> bool:
    """Whether this active admin is the group's only one (who may neither leave nor go)."""
    return (
        membership.is_active
        and membership.role == Role.ADMIN
        and _admin_count(session, membership.group) <= 1
    )


def _apply(membership: Membership, event: MembershipEvent) -> None:
    try:
        membership.status = next_membership_status(membership.status, event)
    except InvalidMembershipTransition as exc:
        raise InvalidMemberAction() from exc


def join_group(session: Session, user: User, group: Group) -> Membership:
    """Join an open group, or ask to join an approval group."""
    membership = membership_of(session, user, group)
    current = membership.status if membership else None
    if current == MembershipStatus.ACTIVE:
        raise AlreadyMember()
    if current == MembershipStatus.PENDING:
        raise RequestAlreadyPending()
    joining = current_charter(session, group).membership_policy
    if joining == MembershipPolicy.INVITATION:
        raise InvitationRequired()
    event = MembershipEvent.JOIN if joining == MembershipPolicy.OPEN else MembershipEvent.REQUEST
    try:
        status = next_membership_status(current, event)
    except InvalidMembershipTransition as exc:
        raise JoinRefused() from exc
    if membership is None:
        membership = Membership(group=group, user=user, role=Role.MEMBER, status=status)
        session.add(membership)
    else:
        membership.status = status
        membership.role = Role.MEMBER
    action = "member.joined" if status == MembershipStatus.ACTIVE else "member.requested"
    record(session, action, actor=user, group=group, target_user=user)
    session.flush()
    if status == MembershipStatus.PENDING:
        events.join_requested.send(membership, session=session)
    return membership


def leave_group(session: Session, user: User, group: Group) -> Membership:
    """Leave a group, or withdraw a pending request to join it."""
    membership = membership_of(session, user, group)
    if membership is None or membership.status not in (
        MembershipStatus.ACTIVE,
        MembershipStatus.PENDING,
    ):
        raise NotAMember()
    if membership.status == MembershipStatus.PENDING:
        _apply(membership, MembershipEvent.CANCEL)
        record(session, "member.request_withdrawn", actor=user, group=group, target_user=user)
        events.join_request_closed.send(membership, session=session, outcome="withdrawn")
    else:
        _lock_group(session, group)
        if membership.role == Role.ADMIN and _admin_count(session, group) <= 1:
            raise LastAdmin()
        _apply(membership, MembershipEvent.LEAVE)
        membership.role = Role.MEMBER
        events.member_left.send(group, session=session, user=user)
        record(session, "member.left", actor=user, group=group, target_user=user)
    session.flush()
    return membership


def approve_member(session: Session, actor: User, membership: Membership) -> None:
    _apply(membership, MembershipEvent.APPROVE)
    record(
        session, "member.approved", actor=actor, group=membership.group, target_user=membership.user
    )
    session.flush()
    events.join_request_closed.send(membership, session=session, outcome="approved")


def reject_member(session: Session, actor: User, membership: Membership) -> None:
    _apply(membership, MembershipEvent.REJECT)
    record(
        session, "member.rejected", actor=actor, group=membership.group, target_user=membership.user
    )
    session.flush()
    events.join_request_closed.send(membership, session=session, outcome="declined")


def admit_by_decision(session: Session, membership: Membership, *, admitted: bool) -> None:
    """A request to join decided by the members' vote (no admin acted)."""
    _apply(membership, MembershipEvent.APPROVE if admitted else MembershipEvent.REJECT)
    action = "member.approved" if admitted else "member.rejected"
    record(session, action, group=membership.group, target_user=membership.user, by="vote")
    session.flush()
    outcome = "approved" if admitted else "declined"
    events.join_request_closed.send(membership, session=session, outcome=outcome)


def promote_member(session: Session, actor: User, membership: Membership) -> None:
    if not membership.is_active or membership.role == Role.ADMIN:
        raise InvalidMemberAction()
    membership.role = Role.ADMIN
    record(
        session, "member.promoted", actor=actor, group=membership.group, target_user=membership.user
    )
    session.flush()


def demote_member(session: Session, actor: User, membership: Membership) -> None:
    if not membership.is_admin:
        raise InvalidMemberAction()
    _lock_group(session, membership.group)
    if _admin_count(session, membership.group) <= 1:
        raise LastAdmin()
    membership.role = Role.MEMBER
    record(
        session, "member.demoted", actor=actor, group=membership.group, target_user=membership.user
    )
    session.flush()


def remove_member(session: Session, actor: User, membership: Membership) -> None:
    if not membership.is_active:
        raise InvalidMemberAction()
    if membership.role == Role.ADMIN:
        _lock_group(session, membership.group)
        if _admin_count(session, membership.group) <= 1:
            raise LastAdmin()
    _apply(membership, MembershipEvent.REMOVE)
    membership.role = Role.MEMBER
    events.member_left.send(membership.group, session=session, user=membership.user)
    record(
        session, "member.removed", actor=actor, group=membership.group, target_user=membership.user
    )
    session.flush()
    events.member_removed.send(membership, session=session)


# --- invitations ------------------------------------------------------------


def invite(
    session: Session, actor: User, group: Group, email: str, *, valid_days: int, now=None
) -> Invitation:
    """Invite an email address; inviting it again renews the pending invitation."""
    now = now or utcnow()
    email = normalise_email(email)
    invitee = session.scalar(select(User).where(User.email == email))
    if invitee is not None:
        existing = membership_of(session, invitee, group)
        if existing is not None and existing.is_active:
            raise InviteeAlreadyMember()
    invitation = session.scalar(
        select(Invitation).where(
            Invitation.group_id == group.id,
            Invitation.email == email,
            Invitation.status == InvitationStatus.PENDING,
        )
    )
    if invitation is None:
        invitation = Invitation(group=group, email=email, invited_by_id=actor.id, created_at=now)
        session.add(invitation)
    invitation.invited_by_id = actor.id
    invitation.expires_at = now + timedelta(days=valid_days)
    record(session, "invitation.sent", actor=actor, group=group, email=email)
    session.flush()
    events.invitation_sent.send(invitation, session=session)
    return invitation


def pending_invitations(session: Session, group: Group) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(Invitation.group_id == group.id, Invitation.status == InvitationStatus.PENDING)
            .order_by(Invitation.created_at.desc())
        )
    )


def invitation_token(invitation: Invitation, secret_key: str) -> str:
    return tokens.sign(secret_key, INVITATION_PURPOSE, invitation.id)


def invitation_from_token(session: Session, token: str, secret_key: str) -> Invitation:
    """The invitation a link names; its expiry is checked when it is answered."""
    try:
        invitation_id = tokens.unsign(secret_key, INVITATION_PURPOSE, token)
    except tokens.TokenError as exc:
        raise InvitationInvalid() from exc
    invitation = session.get(Invitation, invitation_id) if isinstance(invitation_id, int) else None
    if invitation is None:
        raise InvitationInvalid()
    return invitation


def _check_answerable(invitation: Invitation, user: User, now: datetime) -> None:
    if invitation.status != InvitationStatus.PENDING:
        raise InvitationUsed()
    if invitation.is_expired(now):
        raise InvitationExpired()
    if normalise_email(user.email) != invitation.email:
        raise InvitationNotForYou()


def accept_invitation(
    session: Session, user: User, invitation: Invitation, *, now=None
) -> Membership:
    now = now or utcnow()
    _check_answerable(invitation, user, now)
    group = invitation.group
    membership = membership_of(session, user, group)
    if membership is None:
        membership = Membership(
            group=group, user=user, role=Role.MEMBER, status=MembershipStatus.ACTIVE
        )
        session.add(membership)
    elif not membership.is_active:
        was_asking = membership.status == MembershipStatus.PENDING
        _apply(membership, MembershipEvent.ACCEPT_INVITATION)
        membership.role = Role.MEMBER
        if was_asking:  # their request to join waits on no admin any more
            events.join_request_closed.send(membership, session=session, outcome="invited")
    invitation.status = InvitationStatus.ACCEPTED
    invitation.responded_at = now
    record(session, "invitation.accepted", actor=user, group=group, target_user=user)
    session.flush()
    events.invitation_closed.send(invitation, session=session)
    return membership


def decline_invitation(session: Session, user: User, invitation: Invitation, *, now=None) -> None:
    now = now or utcnow()
    _check_answerable(invitation, user, now)
    invitation.status = InvitationStatus.DECLINED
    invitation.responded_at = now
    record(session, "invitation.declined", actor=user, group=invitation.group, target_user=user)
    session.flush()
    events.invitation_closed.send(invitation, session=session)


def revoke_invitation(session: Session, actor: User, invitation: Invitation) -> None:
    if invitation.status != InvitationStatus.PENDING:
        raise InvitationUsed()
    invitation.status = InvitationStatus.REVOKED
    record(
        session, "invitation.revoked", actor=actor, group=invitation.group, email=invitation.email
    )
    session.flush()
    events.invitation_closed.send(invitation, session=session)
