from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.db import db, str_enum, utcnow
from tecopio.governance.models import Proposal
from tecopio.groups.models import Group


class NotificationKind(StrEnum):
    PROPOSAL_OPENED = "proposal_opened"
    PROPOSAL_CLOSING = "proposal_closing"  # a day before the close, to those who have not voted


class Notification(db.Model):
    """Something a member should know about, shown in the app and, if they opted in, emailed.

    The words are not stored: they are written in the reader's language when shown or sent.
    """

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("user_id", "proposal_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind, "notification_kind"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    emailed_at: Mapped[datetime | None]

    group: Mapped[Group] = relationship()
    proposal: Mapped[Proposal] = relationship()
