"""Where every figure's rows come from: members' consented data, narrowed by the page's filter."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Integer, and_, case, func, literal_column, null, select
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.categories.services import CategoryTree
from tecopio.db import utcnow
from tecopio.governance.charter import ALL_CATEGORIES
from tecopio.groups.models import Membership, MembershipStatus
from tecopio.privacy.models import Consent
from tecopio.privacy.services import root_category_id, shared_with_group

YEARS_OFFERED = 5


@dataclass(frozen=True)
class Filters:
    """One filter at a time: a top category, a region, or a calendar year of recording."""

    root_category_id: int | None = None
    region_key: str | None = None
    year: int | None = None

    @property
    def active(self) -> bool:
        return self.dimension is not None

    @property
    def dimension(self) -> str | None:
        return next((name for name, value in self._values() if value is not None), None)

    @property
    def value(self):
        return next((value for _name, value in self._values() if value is not None), None)

    def _values(self):
        return (
            ("category", self.root_category_id),
            ("region", self.region_key),
            ("year", self.year),
        )


WHOLE_BUCKET = 0


@dataclass(frozen=True)
class Split:
    """How one computation divides the group's rows: by the values of one filter, or not at all.

    Every row carries its ``bucket``: the filter value it falls under, or
    None when it falls under none of the values offered (no region, an older
    year); no page shows that part, but the whole page minus all filtered
    pages equals it. Without a dimension every row is in ``WHOLE_BUCKET``.
    So one pass over the data gives every page of a filter.
    """

    dimension: str | None = None
    values: tuple = ()
    # The top categories the group's charter lets it add up (None: all of them).
    roots: tuple[int, ...] | None = None

    def filters(self, bucket) -> Filters:
        if self.dimension is None:
            return Filters()
        name = {"category": "root_category_id", "region": "region_key", "year": "year"}
        return Filters(**{name[self.dimension]: bucket})


WHOLE = Split()


def offered_years(today: date) -> list[int]:
    return list(range(today.year, today.year - YEARS_OFFERED, -1))


def allowed_roots(charter, tree: CategoryTree) -> tuple[int, ...] | None:
    """The top categories the charter lets the group add up, as ids (None: all)."""
    if charter["privacy.categories"] == ALL_CATEGORIES:
        return None
    return tuple(root.id for root in tree.roots if charter.allows_category(root.slug))


def offered_split(session: Session, group, charter, tree: CategoryTree, dimension: str) -> Split:
    """Every value the page offers for one filter, within what the charter lets it add up."""
    roots = allowed_roots(charter, tree)
    if dimension == "category":
        return Split("category", roots or tuple(root.id for root in tree.roots), roots)
    if dimension == "region":
        regions = shared_regions(session, group.id, charter.k_anonymity)
        return Split("region", tuple(key for key, _name in regions), roots)
    if dimension == "year":
        return Split("year", tuple(offered_years(utcnow().date())), roots)
    raise ValueError(f"unknown filter {dimension!r}")


def _year_range(model, year: int):
    start = datetime(year, 1, 1, tzinfo=UTC)
    return and_(model.created_at >= start, model.created_at < datetime(year + 1, 1, 1, tzinfo=UTC))


def _root_bucket(model, category):
    return root_category_id(model, category).label("bucket")


def consented(model, group_id: int, split: Split, *columns):
    """Rows of ``model`` shared with the group, each with its ``bucket`` of ``split``."""
    if split.dimension == "category":
        bucket = _root_bucket
    elif split.dimension == "region":
        bucket = case((User.region_key.in_(split.values), User.region_key), else_=null())
    elif split.dimension == "year":
        bucket = case(*((_year_range(model, y), y) for y in split.values), else_=null())
    else:
        bucket = literal_column(str(WHOLE_BUCKET), Integer)
    if not callable(bucket):
        bucket = bucket.label("bucket")
    statement = shared_with_group(model, group_id, *columns, bucket, roots=split.roots)
    if split.dimension == "region":
        statement = statement.join(User, User.id == model.user_id)
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
