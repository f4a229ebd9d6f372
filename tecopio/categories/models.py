from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.db import db


class Category(db.Model):
    """A node of the two-level taxonomy (e.g. energy → electricity).

    Labels live in the row, in every language the site speaks, because the
    taxonomy is data (seeded by a migration), not code.
    """

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    label_en: Mapped[str] = mapped_column(String(100))
    label_es: Mapped[str] = mapped_column(String(100))
    label_eu: Mapped[str] = mapped_column(String(100))

    parent: Mapped["Category | None"] = relationship(remote_side=[id])

    def label(self, locale: str) -> str:
        return getattr(self, f"label_{locale}", None) or self.label_en

    @property
    def root_id(self) -> int:
        return self.parent_id or self.id

    def __repr__(self) -> str:
        return f"<Category {self.slug}>"
