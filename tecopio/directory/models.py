from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.categories.models import Category
from tecopio.db import db, utcnow


class Company(db.Model):
    """A company or brand in the shared directory.

    Members add missing entries; platform admins merge duplicates (the merged
    entry points at the one kept). The partner feature will let a company
    claim its entry, so nothing here belongs to a company account.
    """

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # Case, accents and punctuation removed: how duplicates are recognised.
    normalized_name: Mapped[str] = mapped_column(String(120), unique=True)
    website: Mapped[str] = mapped_column(String(200), default="")
    sector_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)

    sector: Mapped[Category | None] = relationship()
    merged_into: Mapped["Company | None"] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<Company {self.name}>"
