"""Where every figure's rows come from: members' consented data, narrowed by the page's filter."""

import uuid
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import (
    Column,
    Enum,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.categories.services import CategoryTree
from tecopio.db import today
from tecopio.governance.charter import ALL_CATEGORIES
from tecopio.memberdata.models import (
    Feedback,
    FeedbackVisibility,
    Intent,
    Preference,
    PreferenceCompany,
)
from tecopio.privacy.services import shared_with_group, sharing_members

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
# The bucket of a member's rows that fall on no page of the filter (with ``by_member``).
OUTSIDE = "~"


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
    # The consented rows gathered for one computation (``gathered``), by model.
    tables: dict | None = field(default=None, compare=False, hash=False)
    # Every member's part on every page apart (``changes.py``): buckets "<member>|<page>".
    by_member: bool = False
    # Only the feedback its authors let partner companies count (the companies' own page).
    partners_only: bool = False

    def filters(self, bucket) -> Filters:
        if self.dimension is None:
            return Filters()
        name = {"category": "root_category_id", "region": "region_key", "year": "year"}
        return Filters(**{name[self.dimension]: bucket})


WHOLE = Split()


def filters_key(filters: Filters) -> str:
    return f"{filters.root_category_id}|{filters.region_key}|{filters.year}"


def page_key(split: Split, bucket) -> str:
    """Which page a bucket of ``split`` is: a filter's page, or the part no page shows."""
    if split.dimension is not None and bucket is None:
        return f"outside|{split.dimension}"
    return filters_key(split.filters(bucket))


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
        regions = shared_regions(session, group.id, charter.k_anonymity, roots)
        return Split("region", tuple(key for key, _name in regions), roots)
    if dimension == "year":
        return Split("year", tuple(offered_years(today())), roots)
    raise ValueError(f"unknown filter {dimension!r}")


def _year_range(created_at, year: int):
    start = datetime(year, 1, 1, tzinfo=UTC)
    return and_(created_at >= start, created_at < datetime(year + 1, 1, 1, tzinfo=UTC))


def _column(name, build=None):
    """A column of the consented rows: ``model.<name>``, or ``build(model, category)``."""

    def column(model, category):
        expression = build(model, category) if build else getattr(model, name)
        return expression.label(name)

    return column


def _root(model, category):
    return func.coalesce(category.parent_id, category.id)


def _commented(model, category):
    return case((func.length(model.body) > 0, 1), else_=0)


# Everything any figure reads of each kind of item, by name.
COLUMNS = {
    Intent: {
        name: _column(name, _root if name == "root_id" else None)
        for name in (
            "id",
            "user_id",
            "category_id",
            "root_id",
            "quantity",
            "unit",
            "budget_min",
            "budget_max",
            "currency",
            "window_start",
            "status",
            "created_at",
        )
    },
    Preference: {
        name: _column(name, _root if name == "root_id" else None)
        for name in ("id", "user_id", "root_id", "importance", "values", "created_at")
    },
    Feedback: {
        "id": _column("id"),
        "user_id": _column("user_id"),
        "root_id": _column("root_id", _root),
        "company_id": _column("company_id"),
        "rating": _column("rating"),
        "commented": _column("commented", _commented),
        "created_at": _column("created_at"),
    },
}


def gathering(model, group_id: int, roots=None, partners_only: bool = False):
    """The rows of ``model`` shared with the group, with every column any figure reads and
    the owner's region (the region filter's pages), straight from the tables.

    ``partners_only`` (what companies are shown): of feedback, only what its
    author lets companies count, and of that only each member's latest rating of
    each company, so that every rating a company reads is one member's: ratings
    less members, or two stars' members less the row's, tell nothing.
    """
    columns = [column for column in COLUMNS[model].values()]
    statement = shared_with_group(
        model, group_id, *columns, User.region_key.label("region_key"), roots=roots
    ).join(User, User.id == model.user_id)
    if not (partners_only and model is Feedback):
        return statement
    latest = (
        func.row_number()
        .over(
            partition_by=(Feedback.user_id, Feedback.company_id),
            order_by=(Feedback.created_at.desc(), Feedback.id.desc()),
        )
        .label("latest")
    )
    ranked = (
        statement.where(Feedback.visibility == FeedbackVisibility.PARTNERS)
        .add_columns(latest)
        .subquery()
    )
    names = [column.name for column in statement.selected_columns]
    return select(*(ranked.c[name] for name in names)).where(ranked.c.latest == 1)


def links_gathering(preferences):
    """The companies the gathered preferences name (the brands figure): with their owner."""
    return select(
        preferences.c.user_id,
        PreferenceCompany.preference_id,
        PreferenceCompany.company_id,
        PreferenceCompany.stance,
    ).join(PreferenceCompany, PreferenceCompany.preference_id == preferences.c.id)


def bucket_of(columns, split: Split):
    """The page a gathered row falls on, under ``split`` (see ``Split``)."""
    if split.dimension == "category":
        bucket = columns.root_id
    elif split.dimension == "region":
        bucket = case((columns.region_key.in_(split.values), columns.region_key), else_=null())
    elif split.dimension == "year":
        bucket = case(
            *((_year_range(columns.created_at, year), year) for year in split.values),
            else_=null(),
        )
    else:
        bucket = literal_column(str(WHOLE_BUCKET), Integer)
    if split.by_member:
        bucket = (
            cast(columns.user_id, String)
            + literal("|")
            + func.coalesce(cast(bucket, String), literal(OUTSIDE))
        )
    return bucket.label("bucket")


def consented(model, group_id: int, split: Split, *names: str):
    """Rows of ``model`` shared with the group: the named columns and the row's ``bucket``.

    With gathered rows (``gathered``) they are read from those; otherwise
    straight from the tables.
    """
    table = split.tables.get(model) if split.tables else None
    if table is None:
        table = gathering(model, group_id, split.roots, split.partners_only).subquery()
    return select(*(table.c[name] for name in names), bucket_of(table.c, split))


def links_of(split: Split):
    """The gathered companies preferences name, or None to read them from the table."""
    return split.tables.get(PreferenceCompany) if split.tables else None


def _stored_type(sql_type):
    """A plain column type for the gathered rows (no enum CHECK constraints to name)."""
    return String(40) if isinstance(sql_type, Enum) else sql_type


def temporary_table(connection, statement, label: str) -> Table:
    """A temporary table holding what ``statement`` selects (its columns, its rows)."""
    table = Table(
        f"analytics_{label}_{uuid.uuid4().hex[:12]}",
        MetaData(),
        *(Column(c.name, _stored_type(c.type)) for c in statement.selected_columns),
        prefixes=["TEMPORARY"],
    )
    table.create(connection)
    connection.execute(insert(table).from_select([c.name for c in table.columns], statement))
    return table


@contextmanager
def temporary_tables(session: Session, statements: dict):
    """Temporary tables filled from ``statements`` (by model), dropped at the end (or with
    the transaction, if it fails)."""
    connection = session.connection()
    tables = {}
    try:
        for model, statement in statements.items():
            tables[model] = temporary_table(connection, statement, model.__tablename__)
        yield tables
    finally:
        with suppress(SQLAlchemyError):  # a failed transaction takes them with it
            for table in tables.values():
                table.drop(connection)


@contextmanager
def gathered(session: Session, group_id: int, roots=None, partners_only: bool = False):
    """Gather each kind's consented rows once, in temporary tables, for every figure to read.

    Joining items with memberships and consents is most of what a figure
    costs; done once per kind instead of once per statement, every page of
    every filter reads the same rows (``Split.tables``), so they all count
    the same data.
    """
    with (
        temporary_tables(
            session,
            {model: gathering(model, group_id, roots, partners_only) for model in COLUMNS},
        ) as tables,
        temporary_tables(
            session, {PreferenceCompany: links_gathering(tables[Preference])}
        ) as links,
    ):
        yield {**tables, **links}


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def month_of(session: Session, column):
    if dialect(session) == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def shared_regions(session: Session, group_id: int, k: int, roots=None) -> list[tuple[str, str]]:
    """(key, name) of regions of at least k members who share something with the group.

    Smaller regions are not offered as a filter: the list itself would tell
    that a few members live there. Only sharing within ``roots`` (the
    charter's categories) counts, as in every figure.
    """
    sharing = sharing_members(group_id, roots)
    rows = session.execute(
        select(User.region_key, func.min(User.region))
        .where(User.id.in_(sharing), User.region_key.is_not(None))
        .group_by(User.region_key)
        .having(func.count(User.id) >= k)
        .order_by(User.region_key)
    )
    return [(key, name) for key, name in rows]
