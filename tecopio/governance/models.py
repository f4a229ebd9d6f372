from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.accounts.models import User
from tecopio.db import db, str_enum, utcnow
from tecopio.groups.models import Group


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


class ProposalStatus(StrEnum):
    OPEN = "open"
    PASSED = "passed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    DECIDED = "decided"  # by an admin, where the charter let admins decide: no vote


class VoteChoice(StrEnum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class Proposal(db.Model):
    """A question put to the group's members, or a decision its admins took where allowed.

    What happens when it passes depends on its kind (``kinds.py``).
    """

    __tablename__ = "proposals"
    __table_args__ = (Index("uq_proposals_group_id_number", "group_id", "number", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    # Its number within the group (1, 2, …): what URLs show, so they tell nothing of the
    # platform's other groups.
    number: Mapped[int]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    # The rules the outcome follows: the charter in force when the proposal opened.
    charter_version_id: Mapped[int] = mapped_column(ForeignKey("charter_versions.id"))
    opens_at: Mapped[datetime] = mapped_column(default=utcnow)
    closes_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[ProposalStatus] = mapped_column(
        str_enum(ProposalStatus, "proposal_status"), default=ProposalStatus.OPEN, index=True
    )
    closed_at: Mapped[datetime | None]
    # The outcome, recorded at the close.
    yes: Mapped[int] = mapped_column(default=0)
    no: Mapped[int] = mapped_column(default=0)
    abstain: Mapped[int] = mapped_column(default=0)
    electorate: Mapped[int] = mapped_column(default=0)
    quorum_reached: Mapped[bool | None]
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    result_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("charter_versions.id", ondelete="SET NULL")
    )
    reminded_at: Mapped[datetime | None]

    author: Mapped[User | None] = relationship()
    group: Mapped[Group] = relationship()
    charter_version: Mapped[CharterVersion] = relationship(foreign_keys=[charter_version_id])
    result_version: Mapped[CharterVersion | None] = relationship(foreign_keys=[result_version_id])

    @property
    def voters(self) -> int:
        return self.yes + self.no + self.abstain

    @property
    def counting(self) -> bool:
        """Its time is up but the job that closes it has not run yet (seconds)."""
        return self.status == ProposalStatus.OPEN and self.closes_at <= utcnow()


class Vote(db.Model):
    """One member's vote on one proposal; changed in place until the close."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    choice: Mapped[VoteChoice] = mapped_column(str_enum(VoteChoice, "vote_choice"))
    cast_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProposalComment(db.Model):
    __tablename__ = "proposal_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[User | None] = relationship()
