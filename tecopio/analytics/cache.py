"""Released figures kept per group until the data behind them changes.

Computing a large group's figures takes seconds; most page views ask for the
same ones. A snapshot is stored per group, filter and language with the
group's two counters at that moment: every change the figures depend on
(members' items, consents, memberships, company merges, members' regions)
raises the group's ``changes``, and those that take data away (a withdrawn
consent, a member leaving, a deleted item, an erasure) raise ``removals`` too.

* Counters unchanged: the snapshot is the page.
* Otherwise a small group's figures are computed afresh during the request.
  A large group's page never waits for them: they are computed after the
  response (``background.py``), and meanwhile, where only ``changes`` moved
  (new data), the snapshot is shown, marked as not counting the latest
  changes yet; where ``removals`` moved, it may count data the group may no
  longer see, so it is never shown again and the page says the figures are
  being recounted. Withdrawn consent takes effect at once either way.

With calibrated noise, a snapshot also means reloading the page shows the
same noisy figures and spends no more privacy budget until the data changes.
Snapshots hold released numbers only.
"""

import json
from dataclasses import dataclass, field
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
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from tecopio.accounts.models import User
from tecopio.analytics.queries import Figures, filter_pages
from tecopio.analytics.release import Row, Suppressed, Table
from tecopio.db import db, utcnow
from tecopio.directory.models import Company
from tecopio.governance.services import current_charter
from tecopio.groups.models import Group, Membership, MembershipStatus
from tecopio.groups.services import active_member_count
from tecopio.memberdata.models import Feedback, Intent, Preference, PreferenceCompany
from tecopio.privacy.models import Consent


class AnalyticsSnapshot(db.Model):
    __tablename__ = "analytics_snapshots"
    __table_args__ = (UniqueConstraint("group_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    changes: Mapped[int]
    removals: Mapped[int]
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnalyticsVersion(db.Model):
    """A group's two counters, raised in the same transaction as every change they count.

    Raising them takes the row's lock, so they follow the order in which
    changes commit: a snapshot stored under one value holds the data of every
    change counted up to it. Each group has its own row, so a change in one
    group neither waits for nor refreshes another's figures.
    """

    __tablename__ = "analytics_versions"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    changes: Mapped[int] = mapped_column(default=0)
    removals: Mapped[int] = mapped_column(default=0)


@dataclass
class _Touched:
    """The groups whose figures a flush or statement may have changed."""

    groups: set[int] = field(default_factory=set)
    users: set[int] = field(default_factory=set)
    preferences: set[int] = field(default_factory=set)
    everyone: bool = False
    removal: bool = False

    def __bool__(self) -> bool:
        return bool(self.groups or self.users or self.preferences or self.everyone)


def _raise_versions(connection, touched: _Touched) -> None:
    """Add one to ``changes`` (and to ``removals`` for a removal) of every touched group.

    An upsert, so that a group's row exists from its first change on; rows
    are taken in group order, so two transactions never lock them crosswise.
    """
    if touched.everyone:
        ids = select(Group.id).where(true())
    else:
        members_of = select(Membership.group_id).where(Membership.user_id.in_(touched.users))
        liked_by = (
            select(Membership.group_id)
            .join(Preference, Preference.user_id == Membership.user_id)
            .where(Preference.id.in_(touched.preferences))
        )
        ids = select(Group.id).where(
            or_(Group.id.in_(touched.groups), Group.id.in_(members_of), Group.id.in_(liked_by))
        )
    source = ids.add_columns(literal(1), literal(int(touched.removal))).order_by(Group.id)
    table = AnalyticsVersion.__table__
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).from_select(["group_id", "changes", "removals"], source)
    statement = statement.on_conflict_do_update(
        index_elements=["group_id"],
        set_={
            "changes": table.c.changes + 1,
            "removals": table.c.removals + statement.excluded.removals,
        },
    )
    connection.execute(statement)


def _was(state, name, value) -> bool:
    return value in state.attrs[name].history.deleted


def _touch(obj, touched: _Touched, *, deleted: bool) -> None:
    state = inspect(obj)
    if isinstance(obj, Preference | Intent | Feedback):
        touched.users.add(obj.user_id)
        touched.removal |= deleted
    elif isinstance(obj, PreferenceCompany):
        touched.preferences.add(obj.preference_id)
        touched.removal |= deleted
    elif isinstance(obj, Consent):
        touched.groups.add(obj.group_id)
        touched.removal |= deleted or _was(state, "granted", True)
    elif isinstance(obj, Membership):
        touched.groups.add(obj.group_id)
        touched.removal |= deleted or _was(state, "status", MembershipStatus.ACTIVE)
    elif isinstance(obj, User):  # a member's region (filters); other account changes do not count
        if state.attrs.region_key.history.has_changes():
            touched.users.add(obj.id)
    elif isinstance(obj, Company) and state.attrs.merged_into_id.history.has_changes():
        touched.everyone = True  # a merge moves ratings and mentions


@event.listens_for(Session, "after_flush")
def _count_flushed_changes(session, flush_context):
    touched = _Touched()
    for obj in (*session.new, *session.dirty):
        _touch(obj, touched, deleted=False)
    for obj in session.deleted:
        _touch(obj, touched, deleted=True)
    if touched:
        _raise_versions(session.connection(), touched)


# Tables whose rows feed the figures; bulk writes to them count for every group.
_TRACKED_TABLES = frozenset(
    model.__table__
    for model in (Preference, Intent, Feedback, PreferenceCompany, Consent, Membership)
)


@event.listens_for(Session, "do_orm_execute")
def _count_bulk_changes(state):
    """Bulk INSERT/UPDATE/DELETE statements (imports, erasure, merges) bypass the flush.

    Which groups they touch is not worked out: they count for every group,
    and an UPDATE or DELETE as a removal.
    """
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None and table in _TRACKED_TABLES:
            touched = _Touched(everyone=True, removal=not state.is_insert)
            _raise_versions(state.session.connection(), touched)


@dataclass(frozen=True)
class Version:
    changes: int
    removals: int


def group_version(session: Session, group_id: int) -> Version | None:
    """The group's counters; None before its first change (its figures are then never kept)."""
    row = session.execute(
        select(AnalyticsVersion.changes, AnalyticsVersion.removals).where(
            AnalyticsVersion.group_id == group_id
        )
    ).first()
    return Version(*row) if row else None


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


def _settings(session: Session, group) -> str:
    """The charter version the figures follow (its k, noise and categories)."""
    return f"|charter={current_charter(session, group).number}"


def _key(session: Session, group, filters, locale: str) -> str:
    return (
        f"{locale}|{filters.root_category_id}|{filters.region_key}|{filters.year}"
        + _settings(session, group)
    )[:200]


def _stored(session: Session, group_id: int, key: str):
    return session.execute(
        select(
            AnalyticsSnapshot.changes,
            AnalyticsSnapshot.removals,
            AnalyticsSnapshot.payload,
            AnalyticsSnapshot.created_at,
        ).where(AnalyticsSnapshot.group_id == group_id, AnalyticsSnapshot.key == key)
    ).first()


def _from_snapshot(snapshot, *, stale: bool) -> Figures:
    figures = _load(snapshot.payload)
    figures.computed_at, figures.stale = snapshot.created_at, stale
    return figures


def cached_figures(
    session: Session, group, filters, tree, locale: str, *, wait_up_to: int | None = None
) -> Figures | None:
    """The group's figures from its snapshot where it may be shown, else computed afresh.

    For a group of more than ``wait_up_to`` active members nothing is
    computed here: a snapshot that misses only new data is returned with
    ``Figures.stale`` set, and where none may be shown the result is None.
    Either way the caller has the snapshot refreshed after the response
    (``background.py``).
    """
    version = group_version(session, group.id)
    snapshot = _stored(session, group.id, _key(session, group, filters, locale))
    fresh = version is not None and snapshot is not None and snapshot.changes == version.changes
    if fresh:
        return _from_snapshot(snapshot, stale=False)
    if wait_up_to is None or active_member_count(session, group) <= wait_up_to:
        return refresh_snapshots(session, group, filters, tree, locale)
    if version is not None and snapshot is not None and snapshot.removals == version.removals:
        return _from_snapshot(snapshot, stale=True)
    return None


def refresh_snapshots(session: Session, group, filters, tree, locale: str) -> Figures:
    """Compute the figures of ``filters`` and store them, with the other pages of that filter.

    First computations for a group wait for each other (PostgreSQL row lock):
    the second then finds the first one's snapshot instead of computing, and
    spending budget, again. The counters are read after the lock, before any
    figure, so the snapshot holds at least every change they count.
    """
    session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    version = group_version(session, group.id)
    key = _key(session, group, filters, locale)
    snapshot = _stored(session, group.id, key)
    if version is not None and snapshot is not None and snapshot.changes == version.changes:
        return _from_snapshot(snapshot, stale=False)
    pages = filter_pages(session, group, filters, tree, locale)
    figures = pages[filters]
    figures.computed_at = utcnow()
    if version is None:
        return figures
    keys = {
        _key(session, group, page, locale): page_figures for page, page_figures in pages.items()
    }
    # These are replaced; so are those that may count removed data or older settings.
    # Stale ones are kept: until refreshed they are still better than a wait.
    session.execute(
        delete(AnalyticsSnapshot).where(
            AnalyticsSnapshot.group_id == group.id,
            AnalyticsSnapshot.key.in_(keys)
            | (AnalyticsSnapshot.removals != version.removals)
            | ~AnalyticsSnapshot.key.endswith(_settings(session, group)),
        )
    )
    session.add_all(
        AnalyticsSnapshot(
            group_id=group.id,
            key=page_key,
            changes=version.changes,
            removals=version.removals,
            payload=_dump(page_figures),
            created_at=figures.computed_at,
        )
        for page_key, page_figures in keys.items()
    )
    return figures


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
