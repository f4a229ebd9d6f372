"""The group's feed: what happened between the group and the companies it deals with."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.accounts.models import User
from tecopio.db import db, str_enum, utcnow
from tecopio.demand.models import Deal, DemandOffer
from tecopio.partners.models import PartnerCompany


class CompanyAnswer(db.Model):
    """A company's public answer, within one group, about one of its offers or (no offer)
    about the group's aggregated feedback on it: plain text."""

    __tablename__ = "company_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner_companies.id", ondelete="CASCADE"), index=True
    )
    offer_id: Mapped[int | None] = mapped_column(
        ForeignKey("demand_offers.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    partner: Mapped[PartnerCompany] = relationship()
    offer: Mapped[DemandOffer | None] = relationship()
    author: Mapped[User | None] = relationship()


class FeedKind(StrEnum):
    OFFER_PUBLISHED = "offer_published"
    BIDDING_CLOSED = "bidding_closed"  # says how many bids came in
    OFFER_AWARDED = "offer_awarded"
    OFFER_NOT_AWARDED = "offer_not_awarded"
    DEAL_TIPPED = "deal_tipped"
    DEAL_FAILED = "deal_failed"
    COMPANY_ANSWER = "company_answer"


class FeedEntry(db.Model):
    """One line of the feed; its words are written in the reader's language when shown."""

    __tablename__ = "feed_entries"
    __table_args__ = (Index("ix_feed_entries_group_created", "group_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    kind: Mapped[FeedKind] = mapped_column(str_enum(FeedKind, "feed_kind"))
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("demand_offers.id", ondelete="CASCADE"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"))
    answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("company_answers.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    offer: Mapped[DemandOffer | None] = relationship()
    deal: Mapped[Deal | None] = relationship()
    answer: Mapped[CompanyAnswer | None] = relationship()
