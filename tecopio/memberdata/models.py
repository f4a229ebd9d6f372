from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.accounts.models import User
from tecopio.categories.models import Category
from tecopio.db import db, str_enum, utcnow
from tecopio.directory.models import Company


class Stance(StrEnum):
    LIKE = "like"
    AVOID = "avoid"


class IntentStatus(StrEnum):
    OPEN = "open"
    COMMITTED = "committed"
    FULFILLED = "fulfilled"
    WITHDRAWN = "withdrawn"


class FeedbackVisibility(StrEnum):
    GROUP = "group"  # only in the aggregates of groups the member consented to
    PARTNERS = "partners"  # also in aggregates shown to partner companies


class Preference(db.Model):
    __tablename__ = "preferences"
    __table_args__ = (CheckConstraint("importance BETWEEN 1 AND 5", name="importance_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    importance: Mapped[int]
    values: Mapped[list] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    category: Mapped[Category] = relationship()
    companies: Mapped[list["PreferenceCompany"]] = relationship(
        back_populates="preference", cascade="all, delete-orphan", order_by="PreferenceCompany.id"
    )

    def companies_with(self, stance: Stance) -> list[Company]:
        return [link.company for link in self.companies if link.stance == stance]


class PreferenceCompany(db.Model):
    """A company a preference names as liked or avoided."""

    __tablename__ = "preference_companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    preference_id: Mapped[int] = mapped_column(
        ForeignKey("preferences.id", ondelete="CASCADE"), index=True
    )
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    stance: Mapped[Stance] = mapped_column(str_enum(Stance, "preference_stance"))

    preference: Mapped[Preference] = relationship(back_populates="companies")
    company: Mapped[Company] = relationship()


class Intent(db.Model):
    """Something a member intends to buy: how much, for what budget, and when."""

    __tablename__ = "intents"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("budget_min >= 0 AND budget_min <= budget_max", name="budget_range"),
        CheckConstraint("window_start <= window_end", name="window_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    quantity: Mapped[int]
    unit: Mapped[str] = mapped_column(String(20))
    # Budget in integer minor units (cents) of ``currency``.
    budget_min: Mapped[int]
    budget_max: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    window_start: Mapped[date]
    window_end: Mapped[date]
    status: Mapped[IntentStatus] = mapped_column(
        str_enum(IntentStatus, "intent_status"), default=IntentStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    category: Mapped[Category] = relationship()


class Feedback(db.Model):
    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        UniqueConstraint("user_id", "deal_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    rating: Mapped[int]
    # What the member typed, and the sanitised HTML shown on pages.
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[FeedbackVisibility] = mapped_column(
        str_enum(FeedbackVisibility, "feedback_visibility"), default=FeedbackVisibility.GROUP
    )
    # Set when the feedback rates a deal the member took part in: one rating per deal.
    deal_id: Mapped[int | None] = mapped_column(
        ForeignKey("deals.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    company: Mapped[Company] = relationship()
    category: Mapped[Category | None] = relationship()


class InvalidIntentTransition(Exception):
    def __init__(self, current: IntentStatus, target: IntentStatus):
        super().__init__(f"an intent cannot go from {current} to {target}")
        self.current = current
        self.target = target


# status -> statuses it may move to. "committed" is set when the member commits to
# a deal; a member may mark an open intent fulfilled (bought elsewhere) or withdraw it.
INTENT_TRANSITIONS: dict[IntentStatus, frozenset[IntentStatus]] = {
    IntentStatus.OPEN: frozenset(
        {IntentStatus.COMMITTED, IntentStatus.FULFILLED, IntentStatus.WITHDRAWN}
    ),
    IntentStatus.COMMITTED: frozenset({IntentStatus.FULFILLED, IntentStatus.WITHDRAWN}),
    IntentStatus.WITHDRAWN: frozenset({IntentStatus.OPEN}),
    IntentStatus.FULFILLED: frozenset(),
}


# What a member may do to their own intent; "committed" comes from deals.
MEMBER_INTENT_TARGETS = frozenset(
    {IntentStatus.OPEN, IntentStatus.FULFILLED, IntentStatus.WITHDRAWN}
)


def check_intent_transition(current: IntentStatus, target: IntentStatus) -> None:
    if target not in INTENT_TRANSITIONS[current]:
        raise InvalidIntentTransition(current, target)


def intent_locked(intent: "Intent") -> bool:
    """A committed intent belongs to its deal: the member cannot edit, move or delete it."""
    return intent.status == IntentStatus.COMMITTED


def member_moves(intent: "Intent") -> list[IntentStatus]:
    """The statuses the member may move their intent to now, in a stable order."""
    if intent_locked(intent):
        return []
    allowed = INTENT_TRANSITIONS[intent.status] & MEMBER_INTENT_TARGETS
    return [status for status in IntentStatus if status in allowed]
