from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.accounts.models import User
from tecopio.db import db, str_enum, utcnow


class Adoption(StrEnum):
    """How a charter version came into force."""

    FOUNDING = "founding"  # the group's first charter, set by its founder
    ADMINS = "admins"  # decided by an admin, where the charter in force allowed it
    VOTE = "vote"  # a proposal that passed


class CharterVersion(db.Model):
    """One version of a group's rules. Rows are only ever added; the highest number is in force."""

    __tablename__ = "charter_versions"
    __table_args__ = (UniqueConstraint("group_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    rules: Mapped[dict] = mapped_column(JSON)
    adoption: Mapped[Adoption] = mapped_column(str_enum(Adoption, "charter_adoption"))
    adopted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    adopted_by: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<CharterVersion group={self.group_id} #{self.number}>"
