from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.db import db, str_enum, utcnow
from tecopio.demand.models import Deal, OfferInvitation
from tecopio.governance.models import Proposal
from tecopio.groups.models import Group, Invitation, Membership


class NotificationKind(StrEnum):
    PROPOSAL_OPENED = "proposal_opened"
    PROPOSAL_CLOSING = "proposal_closing"  # a day before the close, to those who have not voted
    JOIN_REQUESTED = "join_requested"  # to the group's admins
    JOIN_APPROVED = "join_approved"  # to the applicant
    JOIN_DECLINED = "join_declined"  # to the applicant
    MEMBER_REMOVED = "member_removed"  # to the person removed
    INVITED = "invited"  # to a person with an account, invited by email
    OFFER_INVITED = "offer_invited"  # to a company's staff: a group invites it to bid
    OFFER_DECIDED = "offer_decided"  # to each invited company's staff: the group's choice
    DEAL_OPENED = "deal_opened"  # to members whose open intents match the deal
    DEAL_TIPPED = "deal_tipped"  # to the members whose commitments count
    DEAL_FAILED = "deal_failed"  # to the members who committed: nobody is bound
    DEAL_TIPPED_COMPANY = "deal_tipped_company"  # to the company's staff
    DEAL_FAILED_COMPANY = "deal_failed_company"  # to the company's staff


COMPANY_KINDS = frozenset(
    {
        NotificationKind.OFFER_INVITED,
        NotificationKind.OFFER_DECIDED,
        NotificationKind.DEAL_TIPPED_COMPANY,
        NotificationKind.DEAL_FAILED_COMPANY,
    }
)
DEAL_KINDS = frozenset(
    {NotificationKind.DEAL_OPENED, NotificationKind.DEAL_TIPPED, NotificationKind.DEAL_FAILED}
)
PROPOSAL_KINDS = frozenset({NotificationKind.PROPOSAL_OPENED, NotificationKind.PROPOSAL_CLOSING})


class Notification(db.Model):
    """Something a person should know about, shown in the app and, if they opted in, emailed.

    The words are not stored: they are written in the reader's language when
    shown or sent. Each names what it is about: a proposal, a membership (a
    request to join, its answer, a removal) or an invitation. It is read once
    the person has seen the list, or acted on what it is about.
    """

    __tablename__ = "notifications"
    # A notice without a proposal (NULL) is never a duplicate of another.
    __table_args__ = (UniqueConstraint("user_id", "proposal_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    proposal_id: Mapped[int | None] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    membership_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), index=True
    )
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), index=True
    )
    offer_invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("offer_invitations.id", ondelete="CASCADE"), index=True
    )
    deal_id: Mapped[int | None] = mapped_column(
        ForeignKey("deals.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind, "notification_kind"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    emailed_at: Mapped[datetime | None]

    group: Mapped[Group] = relationship()
    proposal: Mapped[Proposal | None] = relationship()
    membership: Mapped[Membership | None] = relationship()
    invitation: Mapped[Invitation | None] = relationship()
    offer_invitation: Mapped[OfferInvitation | None] = relationship()
    deal: Mapped[Deal | None] = relationship()
