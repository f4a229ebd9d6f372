"""Where every figure's rows come from: members' consented data, narrowed by the page's filters."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.groups.models import Membership, MembershipStatus
from tecopio.privacy.models import Consent
from tecopio.privacy.services import shared_with_group


@dataclass(frozen=True)
class Filters:
    root_category_id: int | None = None
    start: date | None = None  # items recorded on or after this day
    end: date | None = None  # items recorded on or before this day
    region: str | None = None  # members who give this region (any letter case)


def consented(model, group_id: int, filters: Filters, *columns):
    statement = shared_with_group(model, group_id, *columns, root_id=filters.root_category_id)
    if filters.start is not None:
        statement = statement.where(model.created_at >= midnight(filters.start))
    if filters.end is not None:
        statement = statement.where(model.created_at < midnight(filters.end + timedelta(days=1)))
    if filters.region:
        statement = statement.join(User, User.id == model.user_id).where(
            func.lower(User.region) == filters.region.lower()
        )
    return statement


def shared_regions(session: Session, group_id: int, k: int) -> list[str]:
    """Regions of at least k members who share something with the group (one statement).

    Smaller regions are not offered as a filter: the list itself would tell
    that a few members live there.
    """
    sharing = (
        select(Consent.user_id)
        .join(
            Membership,
            and_(
                Membership.user_id == Consent.user_id,
                Membership.group_id == group_id,
                Membership.status == MembershipStatus.ACTIVE,
            ),
        )
        .where(Consent.group_id == group_id, Consent.granted.is_(True))
    )
    key = func.lower(User.region)
    rows = session.execute(
        select(func.min(User.region))
        .where(User.id.in_(sharing), User.region.is_not(None))
        .group_by(key)
        .having(func.count(User.id) >= k)
        .order_by(key)
    )
    return list(rows.scalars())


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def month_of(session: Session, column):
    if dialect(session) == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)
