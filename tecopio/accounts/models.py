from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from tecopio.db import db, utcnow


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so uniqueness is case-insensitive on every backend.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(8))
    # Opted in to emails about their groups' votes (in-app notifications always appear).
    email_notifications: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Where the member lives, in their own words (town or district); optional.
    # Group analytics can be filtered by it where enough members share one.
    region: Mapped[str | None] = mapped_column(String(100))
    # The region folded (case, accents, spaces) so that "Álava" and "alava " match.
    region_key: Mapped[str | None] = mapped_column(String(100), index=True)
    # When the region last changed: analytics snapshots depend on it.
    region_changed_at: Mapped[datetime | None]
    # Part of every session and remember-me cookie: raising it ends them all.
    session_version: Mapped[int] = mapped_column(default=1)
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the person erased their account: the row stays, without personal data,
    # so that what others rely on (audit logs, later votes and ledger) stays consistent.
    erased_at: Mapped[datetime | None]

    # When this log-in began (seconds since the epoch); set by the session code.
    login_issued_at = None

    def get_id(self) -> str:
        """What session and remember-me cookies carry: id, session version, log-in time."""
        return f"{self.id}:{self.session_version}:{self.login_issued_at or 0}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class SignupRequest(db.Model):
    """A sign-up waiting for its owner to open the link sent to the address.

    The account is made only from the link, so the sign-up form answers the
    same whether or not the address has an account (the owner of a taken
    address is told by email instead). Only a digest of the link's token is
    kept; requests that were not confirmed go after ``SIGNUP_VALID_HOURS``.
    """

    __tablename__ = "signup_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    locale: Mapped[str | None] = mapped_column(String(8))
    next_url: Mapped[str] = mapped_column(String(500), default="")
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
