"""Where every figure's rows come from: members' consented data, narrowed by the page's filter."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.categories.services import CategoryTree
from tecopio.db import utcnow
from tecopio.groups.models import Membership, MembershipStatus
from tecopio.privacy.models import Consent
from tecopio.privacy.services import shared_with_group

YEARS_OFFERED = 5


@dataclass(frozen=True)
class Filters:
    """One filter at a time: a top category, a region, or a calendar year of recording.

    ``outside`` instead selects what none of the given filters (all values of
    one dimension) covers: no page shows it, but the whole page minus every
    filtered page equals it, so it is checked like any released figure.
    """

    root_category_id: int | None = None
    region_key: str | None = None
    year: int | None = None
    outside: tuple["Filters", ...] = ()

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.root_category_id, self.region_key, self.year))

    @property
    def dimension(self) -> str | None:
        for name, value in (
            ("category", self.root_category_id),
            ("region", self.region_key),
            ("year", self.year),
        ):
            if value is not None:
                return name
        return None


def offered_years(today: date) -> list[int]:
    return list(range(today.year, today.year - YEARS_OFFERED, -1))


def offered_filters(session: Session, group, tree: CategoryTree, dimension: str) -> list[Filters]:
    """Every value the page offers for one filter, as the filters selecting them."""
    if dimension == "category":
        return [Filters(root_category_id=root.id) for root in tree.roots]
    if dimension == "region":
        regions = shared_regions(session, group.id, group.k_anonymity)
        return [Filters(region_key=key) for key, _name in regions]
    if dimension == "year":
        return [Filters(year=year) for year in offered_years(utcnow().date())]
    raise ValueError(f"unknown filter {dimension!r}")


def _year_range(model, year: int):
    start = datetime(year, 1, 1, tzinfo=UTC)
    return and_(model.created_at >= start, model.created_at < datetime(year + 1, 1, 1, tzinfo=UTC))


def consented(model, group_id: int, filters: Filters, *columns):
    """Rows of ``model`` shared with the group, narrowed to one filter value or to ``outside``."""
    chosen = filters.outside or ((filters,) if filters.active else ())
    excluded = bool(filters.outside)
    roots = [f.root_category_id for f in chosen if f.root_category_id is not None]
    statement = shared_with_group(
        model, group_id, *columns, roots=roots or None, exclude_roots=excluded
    )
    years = [f.year for f in chosen if f.year is not None]
    if years:
        inside = or_(*(_year_range(model, year) for year in years))
        statement = statement.where(~inside if excluded else inside)
    regions = [f.region_key for f in chosen if f.region_key is not None]
    if regions:
        statement = statement.join(User, User.id == model.user_id)
        if excluded:
            statement = statement.where(
                or_(User.region_key.is_(None), User.region_key.not_in(regions))
            )
        else:
            statement = statement.where(User.region_key.in_(regions))
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
