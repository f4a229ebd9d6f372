"""Released figures kept per group until the data behind them changes.

Computing a large group's figures takes seconds; most page views ask for the
same ones. A snapshot is stored per group, filter and language with the value
of a counter that every change the figures depend on raises (members' items,
consents, memberships, company merges, members' regions); when the counter
has moved, the next view computes afresh, so consent withdrawal still takes
effect at once. With calibrated noise, a snapshot also means reloading the
page shows the same noisy figures and spends no more privacy budget until
the data changes. Snapshots hold released numbers only.
"""

import json
import uuid
from datetime import datetime
from fractions import Fraction

from sqlalchemy import (
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from tecopio.accounts.models import User
from tecopio.analytics.queries import Figures, filter_pages
from tecopio.analytics.release import Row, Suppressed, Table
from tecopio.db import db, utcnow
from tecopio.directory.models import Company
from tecopio.groups.models import Group, Membership
from tecopio.memberdata.models import Feedback, Intent, Preference, PreferenceCompany
from tecopio.privacy.models import Consent


class AnalyticsSnapshot(db.Model):
    __tablename__ = "analytics_snapshots"
    __table_args__ = (UniqueConstraint("group_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(400))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnalyticsDataVersion(db.Model):
    """One counter, raised in the same transaction as every change analytics depend on.

    Raising it takes the row's lock, so the counter follows the order in which
    changes commit: a snapshot stored under one value always holds the data of
    every change counted up to it.
    """

    __tablename__ = "analytics_data_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


# Tables whose rows feed the figures; writes to them raise the counter.
_TRACKED_TABLES = frozenset(
    model.__table__
    for model in (Preference, Intent, Feedback, PreferenceCompany, Consent, Membership)
)


def _raise_version(connection) -> None:
    connection.execute(
        update(AnalyticsDataVersion.__table__).values(value=AnalyticsDataVersion.value + 1)
    )


def _changes_figures(obj) -> bool:
    if obj.__table__ in _TRACKED_TABLES:
        return True
    state = inspect(obj)
    if isinstance(obj, User):  # a member's region (filters); other account changes do not count
        return state.attrs.region_key.history.has_changes()
    if isinstance(obj, Company):  # a merge moves ratings and mentions
        return state.attrs.merged_into_id.history.has_changes()
    return False


@event.listens_for(Session, "after_flush")
def _count_flushed_changes(session, flush_context):
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(hasattr(obj, "__table__") and _changes_figures(obj) for obj in changed):
        _raise_version(session.connection())


@event.listens_for(Session, "do_orm_execute")
def _count_bulk_changes(state):
    """Bulk INSERT/UPDATE/DELETE statements (imports, erasure, merges) bypass the flush."""
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None and table in _TRACKED_TABLES:
            _raise_version(state.session.connection())


def data_fingerprint(session: Session) -> str:
    """The counter's value: it changes with every committed change the figures depend on.

    Without the counter's row (a database not set up by the migrations) no
    snapshot is ever reused.
    """
    value = session.scalar(select(AnalyticsDataVersion.value))
    return str(value) if value is not None else f"uncounted-{uuid.uuid4()}"


def _row(data: dict) -> Row:
    return Row(
        key=data["key"],
        label=data["label"],
        members=data["members"],
        values=data["values"],
        children=[_row(child) for child in data["children"]],
        suppressed=Suppressed(data["suppressed"]) if data["suppressed"] else None,
    )


def _table(data: dict) -> Table:
    return Table(
        name=data["name"],
        rows=[_row(row) for row in data["rows"]],
        total=_row(data["total"]) if data["total"] else None,
        sums_released_elsewhere=data["sums_released_elsewhere"],
    )


def _released(row: Row) -> dict:
    """What a snapshot keeps of a row: only released numbers, never true member counts."""
    return {
        "key": row.key,
        "label": row.label,
        "members": 0,
        "values": row.values if row.released else {},
        "children": [_released(child) for child in row.children],
        "suppressed": row.suppressed,
    }


def _released_table(table: Table) -> dict:
    return {
        "name": table.name,
        "rows": [_released(row) for row in table.rows],
        "total": _released(table.total) if table.total else None,
        "sums_released_elsewhere": table.sums_released_elsewhere,
    }


# The figures' tables besides the monthly trends, by attribute name.
TABLES = (
    "demand",
    "windows",
    "preference_roots",
    "preference_values",
    "brands",
    "ratings",
    "segments",
)


def _dump(figures: Figures) -> str:
    data = {name: _released_table(getattr(figures, name)) for name in TABLES}
    data["trends"] = {name: _released_table(table) for name, table in figures.trends.items()}
    data["k"] = figures.k
    data["noise_epsilon"] = str(figures.noise_epsilon) if figures.noise_epsilon else None
    return json.dumps(data)


def _load(payload: str) -> Figures:
    data = json.loads(payload)
    tables = {name: _table(data[name]) for name in TABLES}
    return Figures(
        k=data["k"],
        trends={name: _table(table) for name, table in data["trends"].items()},
        noise_epsilon=Fraction(data["noise_epsilon"]) if data["noise_epsilon"] else None,
        **tables,
    )


def _key(group, filters, locale: str) -> str:
    return (
        f"{locale}|{filters.root_category_id}|{filters.region_key}|{filters.year}"
        f"|k={group.k_anonymity}|noise={group.noise_epsilon_milli}"
    )[:200]


def cached_figures(session: Session, group, filters, tree, locale: str) -> Figures:
    """The group's figures from its snapshot when nothing changed since, else computed afresh.

    The pages of one filter are released together, so computing one stores
    them all.
    """
    key = _key(group, filters, locale)
    fingerprint = data_fingerprint(session)[:400]
    stored = select(AnalyticsSnapshot.fingerprint, AnalyticsSnapshot.payload).where(
        AnalyticsSnapshot.group_id == group.id, AnalyticsSnapshot.key == key
    )
    snapshot = session.execute(stored).first()
    if snapshot is not None and snapshot.fingerprint == fingerprint:
        return _load(snapshot.payload)
    # First views of a group wait for each other (PostgreSQL row lock): the second then
    # finds the first one's snapshot instead of computing, and spending budget, again.
    session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    snapshot = session.execute(stored).first()
    if snapshot is not None and snapshot.fingerprint == fingerprint:
        return _load(snapshot.payload)
    pages = filter_pages(session, group, filters, tree, locale)
    keys = {_key(group, page, locale): figures for page, figures in pages.items()}
    # These are replaced, and every other snapshot of the group that is out of date goes.
    session.execute(
        delete(AnalyticsSnapshot).where(
            AnalyticsSnapshot.group_id == group.id,
            AnalyticsSnapshot.key.in_(keys) | (AnalyticsSnapshot.fingerprint != fingerprint),
        )
    )
    session.add_all(
        AnalyticsSnapshot(
            group_id=group.id, key=page_key, fingerprint=fingerprint, payload=_dump(figures)
        )
        for page_key, figures in keys.items()
    )
    return pages[filters]


def commit_snapshot(session: Session) -> bool:
    """Commit a new snapshot; False when a concurrent view stored the same one first.

    Two first views of the same figures can run at once; the second to commit
    meets the unique (group, key) row of the first, which is just as good.
    """
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
