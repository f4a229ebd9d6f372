"""Analytics' tables: each group's change counters and current release, its pages, and
the members who changed since (the release basis is in ``changes.py``)."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tecopio.db import db, utcnow


class AnalyticsSnapshot(db.Model):
    """One page (filter) of a group's current release."""

    __tablename__ = "analytics_snapshots"
    __table_args__ = (UniqueConstraint("group_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    changes: Mapped[int]
    removals: Mapped[int]
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnalyticsVersion(db.Model):
    """A group's change counters, raised in the same transaction as every change they count,
    and its current release.

    Raising them takes the row's lock, so they follow the order in which
    changes commit. Each group has its own row, so a change in one group
    neither waits for nor withdraws another's figures.
    """

    __tablename__ = "analytics_versions"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    changes: Mapped[int] = mapped_column(default=0)
    removals: Mapped[int] = mapped_column(default=0)
    release_number: Mapped[int] = mapped_column(default=0, server_default="0")
    released_at: Mapped[datetime | None]
    released_changes: Mapped[int] = mapped_column(default=0, server_default="0")
    released_removals: Mapped[int] = mapped_column(default=0, server_default="0")
    released_rules: Mapped[str | None] = mapped_column(String(200))
    # What the next release compares with (``changes.Changes.remember``): JSON.
    released_meta: Mapped[str | None] = mapped_column(Text)


class ChangedMember(db.Model):
    """A member whose data shared with the group changed since its last release, per strand.

    A strand is one kind of data in one top category (``intent:3``,
    ``preference:3``, ``feedback:3``) or the members' regions (``region``).
    ``change`` is the group's ``changes`` counter at the member's latest
    change: publishing a release clears the members counted up to it, not
    those who changed again meanwhile.
    """

    __tablename__ = "analytics_changed_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    strand: Mapped[str] = mapped_column(String(40), primary_key=True)
    change: Mapped[int]
