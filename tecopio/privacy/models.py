from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.categories.models import Category
from tecopio.db import db, utcnow
from tecopio.groups.models import Group


class ConsentEvent(db.Model):
    """One consent decision. The log is only ever appended to (see ``guard_append_only``)."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    # A top-level category: consent covers it and all its sub-categories.
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    granted: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    group: Mapped[Group] = relationship()
    category: Mapped[Category] = relationship()


class Consent(db.Model):
    """The consent in force per member, group and top-level category.

    A projection of the log kept in the same transaction as each new event, so
    that aggregates can join it cheaply. No row means no consent.
    """

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "group_id", "category_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    granted: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    group: Mapped[Group] = relationship()
    category: Mapped[Category] = relationship()
