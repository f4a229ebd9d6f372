"""Where every figure's rows come from: members' consented data, narrowed by the page's filter."""

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.groups.models import Membership, MembershipStatus
from tecopio.privacy.models import Consent
from tecopio.privacy.services import shared_with_group


@dataclass(frozen=True)
class Filters:
    """One filter at a time: a top category, a region, or a calendar year of recording.

    ``rest`` selects what the filter leaves out; comparing it with the
    filtered figures tells what subtracting them from the unfiltered page
    would reveal.
    """

    root_category_id: int | None = None
    region_key: str | None = None
    year: int | None = None
    rest: bool = False

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.root_category_id, self.region_key, self.year))

    def complement(self) -> "Filters":
        return replace(self, rest=True)


def consented(model, group_id: int, filters: Filters, *columns):
    statement = shared_with_group(
        model, group_id, *columns, root_id=filters.root_category_id, exclude_root=filters.rest
    )
    if filters.year is not None:
        start = datetime(filters.year, 1, 1, tzinfo=UTC)
        end = datetime(filters.year + 1, 1, 1, tzinfo=UTC)
        inside = and_(model.created_at >= start, model.created_at < end)
        statement = statement.where(~inside if filters.rest else inside)
    if filters.region_key is not None:
        statement = statement.join(User, User.id == model.user_id)
        if filters.rest:
            statement = statement.where(
                or_(User.region_key.is_(None), User.region_key != filters.region_key)
            )
        else:
            statement = statement.where(User.region_key == filters.region_key)
    return statement


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def month_of(session: Session, column):
    if dialect(session) == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def shared_regions(session: Session, group_id: int, k: int) -> list[tuple[str, str]]:
    """(key, name) of regions of at least k members who share something with the group.

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
    rows = session.execute(
        select(User.region_key, func.min(User.region))
        .where(User.id.in_(sharing), User.region_key.is_not(None))
        .group_by(User.region_key)
        .having(func.count(User.id) >= k)
        .order_by(User.region_key)
    )
    return [(key, name) for key, name in rows]
