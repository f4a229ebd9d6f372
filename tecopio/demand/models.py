"""Demand offers: what a group offers companies, and which companies it invited."""

from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.accounts.models import User
from tecopio.categories.models import Category
from tecopio.db import db, str_enum, utcnow
from tecopio.groups.models import Group
from tecopio.partners.models import PartnerCompany


class OfferStatus(StrEnum):
    DRAFT = "draft"  # admins are building it; nobody outside the group sees it
    PROPOSED = "proposed"  # put to the members' vote, where the charter says so
    PUBLISHED = "published"  # frozen; invited companies read it and bid until the deadline
    CLOSED = "closed"  # the bidding deadline passed
    REJECTED = "rejected"  # the members voted against publishing it
    CANCELLED = "cancelled"  # withdrawn by an admin


class OfferEvent(StrEnum):
    PROPOSE = "propose"
    PUBLISH = "publish"
    REJECT = "reject"
    CLOSE = "close"
    CANCEL = "cancel"


# (state, event) -> next state. Anything else is refused with InvalidOfferTransition.
OFFER_TRANSITIONS: dict[tuple[OfferStatus, OfferEvent], OfferStatus] = {
    (OfferStatus.DRAFT, OfferEvent.PROPOSE): OfferStatus.PROPOSED,
    (OfferStatus.DRAFT, OfferEvent.PUBLISH): OfferStatus.PUBLISHED,
    (OfferStatus.DRAFT, OfferEvent.CANCEL): OfferStatus.CANCELLED,
    (OfferStatus.PROPOSED, OfferEvent.PUBLISH): OfferStatus.PUBLISHED,
    (OfferStatus.PROPOSED, OfferEvent.REJECT): OfferStatus.REJECTED,
    (OfferStatus.PUBLISHED, OfferEvent.CLOSE): OfferStatus.CLOSED,
}


class InvalidOfferTransition(Exception):
    def __init__(self, status: OfferStatus, event: OfferEvent):
        super().__init__(f"{event.value} is not possible from {status.value}")
        self.status = status
        self.event = event


def next_offer_status(status: OfferStatus, event: OfferEvent) -> OfferStatus:
    try:
        return OFFER_TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidOfferTransition(status, event) from None


class DemandOffer(db.Model):
    """A group's offer of its aggregated demand in one top category, on its own terms.

    ``snapshot`` is frozen when the offer is published (the figures companies
    see, released with the company k); nothing changes it afterwards.
    Numbered per group, so that its address tells nothing of other groups.
    """

    __tablename__ = "demand_offers"
    __table_args__ = (UniqueConstraint("group_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    terms: Mapped[str] = mapped_column(Text)
    # [{"key": "price", "weight": 40}, ...], in the order of CRITERIA.
    criteria: Mapped[list] = mapped_column(JSON)
    tipping_point: Mapped[int]  # fewest committed members for a deal to go ahead
    tiers: Mapped[list] = mapped_column(JSON, default=list)  # committed members asking a price
    bid_deadline: Mapped[datetime]
    status: Mapped[OfferStatus] = mapped_column(
        str_enum(OfferStatus, "offer_status"), default=OfferStatus.DRAFT
    )
    snapshot: Mapped[dict | None] = mapped_column(JSON)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]

    group: Mapped[Group] = relationship()
    category: Mapped[Category] = relationship()
    created_by: Mapped[User | None] = relationship()
    invitations: Mapped[list["OfferInvitation"]] = relationship(back_populates="offer")

    @property
    def last_bidding_day(self) -> date:
        """The day chosen: bids are taken until its end (UTC)."""
        return (self.bid_deadline - timedelta(days=1)).date()

    def is_open_for_bids(self, now: datetime) -> bool:
        return self.status == OfferStatus.PUBLISHED and now < self.bid_deadline


class OfferInvitation(db.Model):
    """A company the group invited to bid on an offer: the only companies that see it."""

    __tablename__ = "offer_invitations"
    __table_args__ = (UniqueConstraint("offer_id", "partner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(
        ForeignKey("demand_offers.id", ondelete="CASCADE"), index=True
    )
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner_companies.id", ondelete="CASCADE"), index=True
    )
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    offer: Mapped[DemandOffer] = relationship(back_populates="invitations")
    partner: Mapped[PartnerCompany] = relationship()
