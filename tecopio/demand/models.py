"""Demand offers: what a group offers companies, and which companies it invited."""

from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import JSON, Date, ForeignKey, String, Text, UniqueConstraint
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
    AWARDED = "awarded"  # the group accepted one bid
    NOT_AWARDED = "not_awarded"  # the group chose no bid: a valid outcome


class OfferEvent(StrEnum):
    PROPOSE = "propose"
    PUBLISH = "publish"
    REJECT = "reject"
    CLOSE = "close"
    CANCEL = "cancel"
    AWARD = "award"
    AWARD_NONE = "award_none"


# (state, event) -> next state. Anything else is refused with InvalidOfferTransition.
OFFER_TRANSITIONS: dict[tuple[OfferStatus, OfferEvent], OfferStatus] = {
    (OfferStatus.DRAFT, OfferEvent.PROPOSE): OfferStatus.PROPOSED,
    (OfferStatus.DRAFT, OfferEvent.PUBLISH): OfferStatus.PUBLISHED,
    (OfferStatus.DRAFT, OfferEvent.CANCEL): OfferStatus.CANCELLED,
    (OfferStatus.PROPOSED, OfferEvent.PUBLISH): OfferStatus.PUBLISHED,
    (OfferStatus.PROPOSED, OfferEvent.REJECT): OfferStatus.REJECTED,
    (OfferStatus.PUBLISHED, OfferEvent.CLOSE): OfferStatus.CLOSED,
    (OfferStatus.CLOSED, OfferEvent.AWARD): OfferStatus.AWARDED,
    (OfferStatus.CLOSED, OfferEvent.AWARD_NONE): OfferStatus.NOT_AWARDED,
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


class PriceBasis(StrEnum):
    UNIT = "unit"  # a price per unit, in minor units of the offer's currency
    DISCOUNT = "discount"  # a discount on the company's list price, in basis points


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
    # How bids quote their price, so that they compare: all in one basis and one currency.
    price_basis: Mapped[PriceBasis] = mapped_column(
        str_enum(PriceBasis, "price_basis"), default=PriceBasis.UNIT
    )
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    unit_label: Mapped[str] = mapped_column(String(80), default="")  # what one unit is
    status: Mapped[OfferStatus] = mapped_column(
        str_enum(OfferStatus, "offer_status"), default=OfferStatus.DRAFT
    )
    snapshot: Mapped[dict | None] = mapped_column(JSON)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    awarded_partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner_companies.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]

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

    @property
    def decided(self) -> bool:
        return self.status in (OfferStatus.AWARDED, OfferStatus.NOT_AWARDED)


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


class BidStatus(StrEnum):
    SUBMITTED = "submitted"  # the company's answer, editable until the deadline
    DECLINED = "declined"  # the company chose not to bid (recorded, with its reason)
    WITHDRAWN = "withdrawn"  # taken back before the deadline; it may bid again


class BidEvent(StrEnum):
    SUBMIT = "submit"
    EDIT = "edit"
    WITHDRAW = "withdraw"
    DECLINE = "decline"


# (state, event) -> next state; None is "no answer yet". One bid per company and offer:
# submitting again while a bid stands is refused (edit it instead).
BID_TRANSITIONS: dict[tuple[BidStatus | None, BidEvent], BidStatus] = {
    (None, BidEvent.SUBMIT): BidStatus.SUBMITTED,
    (None, BidEvent.DECLINE): BidStatus.DECLINED,
    (BidStatus.SUBMITTED, BidEvent.EDIT): BidStatus.SUBMITTED,
    (BidStatus.SUBMITTED, BidEvent.WITHDRAW): BidStatus.WITHDRAWN,
    (BidStatus.WITHDRAWN, BidEvent.SUBMIT): BidStatus.SUBMITTED,
    (BidStatus.WITHDRAWN, BidEvent.DECLINE): BidStatus.DECLINED,
    (BidStatus.DECLINED, BidEvent.SUBMIT): BidStatus.SUBMITTED,
}


class InvalidBidTransition(Exception):
    def __init__(self, status: BidStatus | None, event: BidEvent):
        super().__init__(f"{event.value} is not possible from {status}")
        self.status = status
        self.event = event


def next_bid_status(status: BidStatus | None, event: BidEvent) -> BidStatus:
    try:
        return BID_TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidBidTransition(status, event) from None


class TermsAnswer(StrEnum):
    ACCEPT = "accept"  # the group's terms as written
    COUNTER = "counter"  # the terms, with one counter-term the company proposes


class FeeKind(StrEnum):
    PER_MEMBER = "per_member"  # for each committed member
    FIXED = "fixed"  # once, for the deal


class Bid(db.Model):
    """A company's one answer to an offer, on a fixed template so that bids compare.

    ``price`` and ``tier_prices`` are in the offer's basis: minor units of its
    currency per unit, or basis points of discount (1250 is 12.5 %). Only the
    group and the company itself ever see it.
    """

    __tablename__ = "bids"
    __table_args__ = (UniqueConstraint("offer_id", "partner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(
        ForeignKey("demand_offers.id", ondelete="CASCADE"), index=True
    )
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner_companies.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[BidStatus] = mapped_column(str_enum(BidStatus, "bid_status"))
    terms_answer: Mapped[TermsAnswer | None] = mapped_column(str_enum(TermsAnswer, "terms_answer"))
    counter_term: Mapped[str] = mapped_column(Text, default="")
    decline_reason: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3))
    price: Mapped[int | None]
    tier_prices: Mapped[list] = mapped_column(JSON, default=list)  # one per offer tier
    fee_kind: Mapped[FeeKind | None] = mapped_column(str_enum(FeeKind, "fee_kind"))
    fee: Mapped[int | None]  # minor units of ``currency``
    conditions: Mapped[str] = mapped_column(Text, default="")
    warranty_months: Mapped[int | None]
    # What the company says of each criterion the group scores itself (local, renewable...).
    statements: Mapped[dict] = mapped_column(JSON, default=dict)
    valid_until: Mapped[date | None] = mapped_column(Date)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    offer: Mapped[DemandOffer] = relationship()
    partner: Mapped[PartnerCompany] = relationship()
    scores: Mapped[list["BidScore"]] = relationship(back_populates="bid")

    @property
    def standing(self) -> bool:
        return self.status == BidStatus.SUBMITTED


class BidScore(db.Model):
    """The group admins' score (0-100) of a bid on a criterion no number of the bid gives."""

    __tablename__ = "bid_scores"
    __table_args__ = (UniqueConstraint("bid_id", "criterion"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"), index=True)
    criterion: Mapped[str] = mapped_column(String(20))
    score: Mapped[int]
    scored_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)

    bid: Mapped[Bid] = relationship(back_populates="scores")


class DealStatus(StrEnum):
    OPEN = "open"  # members commit until the deadline
    TIPPED = "tipped"  # enough committed: the deal goes ahead; more may still join
    COMPLETED = "completed"  # tipped, and the deadline passed: the commitments are final
    FAILED = "failed"  # the deadline passed below the tipping point: nobody is bound


class DealEvent(StrEnum):
    TIP = "tip"
    CLOSE = "close"  # the deadline passed


DEAL_TRANSITIONS: dict[tuple[DealStatus, DealEvent], DealStatus] = {
    (DealStatus.OPEN, DealEvent.TIP): DealStatus.TIPPED,
    (DealStatus.OPEN, DealEvent.CLOSE): DealStatus.FAILED,
    (DealStatus.TIPPED, DealEvent.CLOSE): DealStatus.COMPLETED,
}


class InvalidDealTransition(Exception):
    def __init__(self, status: DealStatus, event: DealEvent):
        super().__init__(f"{event.value} is not possible from {status.value}")
        self.status, self.event = status, event


def next_deal_status(status: DealStatus, event: DealEvent) -> DealStatus:
    try:
        return DEAL_TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidDealTransition(status, event) from None


class Deal(db.Model):
    """The accepted bid of an offer, which the group's members commit to until a deadline.

    It tips once the commitments that count reach the tipping point. The company
    learns the committed members and quantity when it tips, and afterwards only
    in steps of at least the company k members (``told_*``), so that no
    difference of two figures it saw rests on fewer.
    """

    __tablename__ = "deals"

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(
        ForeignKey("demand_offers.id", ondelete="CASCADE"), unique=True
    )
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner_companies.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[DealStatus] = mapped_column(
        str_enum(DealStatus, "deal_status"), default=DealStatus.OPEN
    )
    tipping_point: Mapped[int]
    deadline: Mapped[datetime]  # commitments are taken until then
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    tipped_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    told_members: Mapped[int] = mapped_column(default=0)
    told_quantity: Mapped[int] = mapped_column(default=0)
    told_at: Mapped[datetime | None]

    offer: Mapped[DemandOffer] = relationship()
    bid: Mapped[Bid] = relationship()
    partner: Mapped[PartnerCompany] = relationship()
    group: Mapped[Group] = relationship()
    commitments: Mapped[list["Commitment"]] = relationship(back_populates="deal")

    @property
    def last_day(self) -> date:
        return (self.deadline - timedelta(days=1)).date()

    def is_open_for_commitments(self, now: datetime) -> bool:
        return self.status in (DealStatus.OPEN, DealStatus.TIPPED) and now < self.deadline

    @property
    def went_ahead(self) -> bool:
        return self.status in (DealStatus.TIPPED, DealStatus.COMPLETED)


class CommitmentStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"  # before the deal tipped


class Commitment(db.Model):
    """A member's commitment to a deal: a quantity, perhaps up to a maximum, perhaps only
    if enough commit for a price tier (``min_members``, one of the offer's tiers)."""

    __tablename__ = "commitments"
    __table_args__ = (UniqueConstraint("deal_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int]
    max_quantity: Mapped[int | None]
    min_members: Mapped[int | None]
    intent_id: Mapped[int | None] = mapped_column(ForeignKey("intents.id", ondelete="SET NULL"))
    share_contact: Mapped[bool] = mapped_column(default=False)
    status: Mapped[CommitmentStatus] = mapped_column(
        str_enum(CommitmentStatus, "commitment_status"), default=CommitmentStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    deal: Mapped[Deal] = relationship(back_populates="commitments")
    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.status == CommitmentStatus.ACTIVE
