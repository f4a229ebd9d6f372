"""Partner companies: the accounts companies log in with, and the people who act for them."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.accounts.models import User
from tecopio.db import db, str_enum, utcnow
from tecopio.directory.models import Company


class StaffRole(StrEnum):
    OWNER = "owner"  # manages the account and its staff
    STAFF = "staff"  # acts for the company: reads offers, bids


class StaffStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"


class StaffInvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


class PartnerCompany(db.Model):
    """A company's account, linked to the directory entry members already name.

    Its name is the directory entry's; only a verified account can be invited
    to a group's offers (the platform's operator verifies).
    """

    __tablename__ = "partner_companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), unique=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    contact_email: Mapped[str] = mapped_column(String(254))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None]
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    company: Mapped[Company] = relationship()
    staff: Mapped[list["CompanyStaff"]] = relationship(back_populates="partner")

    @property
    def name(self) -> str:
        return self.company.name

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    def __repr__(self) -> str:
        return f"<PartnerCompany {self.slug}>"


class CompanyStaff(db.Model):
    """A person acting for a company. Removal keeps the row (who acted, and when)."""

    __tablename__ = "company_staff"
    __table_args__ = (UniqueConstraint("partner_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner_companies.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole, "staff_role"))
    status: Mapped[StaffStatus] = mapped_column(
        str_enum(StaffStatus, "staff_status"), default=StaffStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]

    partner: Mapped[PartnerCompany] = relationship(back_populates="staff")
    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.status == StaffStatus.ACTIVE


class StaffInvitation(db.Model):
    """An owner's invitation to a colleague, accepted through the emailed link only."""

    __tablename__ = "company_staff_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partner_companies.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), index=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[StaffInvitationStatus] = mapped_column(
        str_enum(StaffInvitationStatus, "staff_invitation_status"),
        default=StaffInvitationStatus.PENDING,
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    responded_at: Mapped[datetime | None]

    partner: Mapped[PartnerCompany] = relationship()
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])
