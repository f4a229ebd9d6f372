from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from tecopio.accounts.models import User
from tecopio.db import db, str_enum, utcnow


class MembershipPolicy(StrEnum):
    OPEN = "open"
    APPROVAL = "approval"
    INVITATION = "invitation"


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class MembershipStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    LEFT = "left"
    REMOVED = "removed"
    REJECTED = "rejected"


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"


class Group(db.Model):
    """A cooperative group; its rules (joining, privacy, money, decisions) are in its charter."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    region: Mapped[str] = mapped_column(String(100), default="", index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The privacy budget calibrated noise has spent so far, in thousandths of epsilon.
    privacy_budget_spent_milli: Mapped[int] = mapped_column(default=0, server_default="0")

    memberships: Mapped[list["Membership"]] = relationship(back_populates="group")

    def __repr__(self) -> str:
        return f"<Group {self.slug}>"


class Membership(db.Model):
    """One person's relationship to one group; the row is kept when they leave."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "membership_role"), default=Role.MEMBER)
    status: Mapped[MembershipStatus] = mapped_column(
        str_enum(MembershipStatus, "membership_status")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When the member last became active: votes are for members of the group
    # from before a proposal opened.
    active_since: Mapped[datetime | None]

    group: Mapped[Group] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship()

    @validates("status")
    def _note_activation(self, _key, status):
        if status == MembershipStatus.ACTIVE and self.status != MembershipStatus.ACTIVE:
            self.active_since = utcnow()
        return status

    @property
    def is_active(self) -> bool:
        return self.status == MembershipStatus.ACTIVE

    @property
    def is_admin(self) -> bool:
        return self.is_active and self.role == Role.ADMIN


class Invitation(db.Model):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[InvitationStatus] = mapped_column(
        str_enum(InvitationStatus, "invitation_status"), default=InvitationStatus.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    responded_at: Mapped[datetime | None]

    group: Mapped[Group] = relationship()
    invited_by: Mapped[User | None] = relationship()

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class MembershipEvent(StrEnum):
    JOIN = "join"  # open group
    REQUEST = "request"  # approval group
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"  # the applicant withdraws a pending request
    LEAVE = "leave"
    REMOVE = "remove"
    ACCEPT_INVITATION = "accept_invitation"


class InvalidMembershipTransition(Exception):
    def __init__(self, current: MembershipStatus | None, event: MembershipEvent):
        super().__init__(f"cannot {event} a membership that is {current or 'new'}")
        self.current = current
        self.event = event


# event -> (statuses it may start from; None is "no membership yet", resulting status)
MEMBERSHIP_TRANSITIONS: dict[MembershipEvent, tuple[frozenset, MembershipStatus]] = {
    MembershipEvent.JOIN: (frozenset({None, MembershipStatus.LEFT}), MembershipStatus.ACTIVE),
    MembershipEvent.REQUEST: (frozenset({None, MembershipStatus.LEFT}), MembershipStatus.PENDING),
    MembershipEvent.APPROVE: (frozenset({MembershipStatus.PENDING}), MembershipStatus.ACTIVE),
    MembershipEvent.REJECT: (frozenset({MembershipStatus.PENDING}), MembershipStatus.REJECTED),
    MembershipEvent.CANCEL: (frozenset({MembershipStatus.PENDING}), MembershipStatus.LEFT),
    MembershipEvent.LEAVE: (frozenset({MembershipStatus.ACTIVE}), MembershipStatus.LEFT),
    MembershipEvent.REMOVE: (frozenset({MembershipStatus.ACTIVE}), MembershipStatus.REMOVED),
    # An invitation is the way back in after a rejection or a removal.
    MembershipEvent.ACCEPT_INVITATION: (
        frozenset(
            {
                None,
                MembershipStatus.PENDING,
                MembershipStatus.LEFT,
                MembershipStatus.REJECTED,
                MembershipStatus.REMOVED,
            }
        ),
        MembershipStatus.ACTIVE,
    ),
}


def next_membership_status(
    current: MembershipStatus | None, event: MembershipEvent
) -> MembershipStatus:
    allowed_from, result = MEMBERSHIP_TRANSITIONS[event]
    if current not in allowed_from:
        raise InvalidMembershipTransition(current, event)
    return result
