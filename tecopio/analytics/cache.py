"""Figures are published as releases, and a new release only once k members have changed.

A group's figures are not recomputed after every change: two successive
computations differing by one member's change would show that change (a
count going from 6 to 7, a quartile moving to that member's budget). So the
figures are published as numbered **releases**. Every page of every filter
in one release is computed from the same data, in one transaction, and
released together (``queries.all_pages``). Changes are recorded per member
and *strand* (one kind of data — intents, preferences, feedback — in one top
category, or regions) in ``analytics_changed_members``, and only where they
change what the group sees: an item in a category the member shares with
the group, a consent over data the member has, a region of a member who
shares something. A new release is published only when every strand that
changed since the previous one changed for at least k members. Within a
strand one row can still move for fewer (four members add a value, one
names a company): each row is then compared with the last release that
showed it (``changes.py``) and hidden where it moved for 1 to k−1 members.

When data is taken away (a consent withdrawn, an item deleted, a member
leaving, an erasure), withdrawn data must not be shown again: the release
leaves the page as a whole (hiding only the figures it touched would tell
what was shared), and the page says so until the next release, which waits
for k changed members like any other. The same happens when the group
changes the privacy rules the release followed (k, categories, noise):
figures made under other rules are withdrawn, not recomputed at once from the
same data with a different pattern of hidden cells.

Each release is stored per filter (``AnalyticsSnapshot``), language-neutral
(labels are given when a page is shown); it holds released numbers only.
Computing a large group's release takes seconds, so it runs after the
response (``background.py``); meanwhile the previous release stays (unless
withdrawn). With calibrated noise, a release is computed and charged once.
"""

import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from sqlalchemy import (
    delete,
    event,
    func,
    inspect,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tecopio import jobs
from tecopio.accounts.models import User
from tecopio.analytics.changes import cell_name, changes_since_release, rows_of, save_basis
from tecopio.analytics.models import AnalyticsSnapshot, AnalyticsVersion, ChangedMember
from tecopio.analytics.queries import FILTER_DIMENSIONS, Figures, all_pages
from tecopio.analytics.release import Row, Suppressed, Table
from tecopio.analytics.source import (
    COLUMNS,
    Filters,
    allowed_roots,
    filters_key,
    gathered,
    offered_split,
)
from tecopio.categories.models import Category
from tecopio.db import utcnow
from tecopio.directory.models import Company
from tecopio.governance.charters import current_charter
from tecopio.groups.models import Group, Membership, MembershipStatus
from tecopio.groups.services import active_member_count
from tecopio.memberdata.models import Feedback, Intent, Preference, PreferenceCompany
from tecopio.privacy.models import Consent

# Every release is computed with labels in this language; pages relabel it.
RELEASE_LOCALE = "en"
# The job that publishes a group's due release (``jobs.py``).
PUBLISH_JOB = "analytics.publish"


ITEM_KINDS = {Intent: "intent", Preference: "preference", Feedback: "feedback"}

# The columns the figures read, per model: a change elsewhere (a note, a description,
# the time of an edit) changes no figure and never counts. For members' items, the
# columns every figure gathers (``source.COLUMNS``), computed ones by what they read.
_READ_FROM = {"root_id": "category_id", "commented": "body"}
FIGURE_COLUMNS = {
    **{
        # The category decides which consent shares an item: read for every kind.
        model: tuple(
            {_READ_FROM.get(name, name) for name in columns} - {"id", "created_at"}
            | {"category_id"}
        )
        for model, columns in COLUMNS.items()
    },
    PreferenceCompany: ("preference_id", "company_id", "stance"),
    Consent: ("granted",),
    Membership: ("status",),
}


@dataclass
class _Touched:
    """The groups whose figures a flush or statement may have changed, and the members who did."""

    groups: set[int] = field(default_factory=set)
    # (member, kind, category) of every item changed, before and after the change.
    items: set[tuple[int, str, int]] = field(default_factory=set)
    preferences: set[int] = field(default_factory=set)  # whose company links changed
    regions: set[int] = field(default_factory=set)  # members whose region changed
    # (group, member, top category) of every consent changed.
    consents: set[tuple[int, int, int]] = field(default_factory=set)
    everyone: bool = False
    removal: bool = False

    def __bool__(self) -> bool:
        return bool(self.groups or self.items or self.preferences or self.regions or self.everyone)


def _raise_versions(connection, touched: _Touched) -> set[int]:
    """Add one to ``changes`` (and to ``removals`` for a removal) of every touched group.

    An upsert, so that a group's row exists from its first change on; rows
    are taken in group order, so two transactions never lock them crosswise.
    A member's items and region touch the groups they share something with.
    Then the members who changed are recorded per group and strand; the
    groups whose figures they changed are returned.
    """
    if touched.preferences:
        touched.items |= {
            (user_id, "preference", category_id)
            for user_id, category_id in connection.execute(
                select(Preference.user_id, Preference.category_id).where(
                    Preference.id.in_(touched.preferences)
                )
            )
        }
    users = {user_id for user_id, _kind, _category in touched.items} | touched.regions
    if touched.everyone:
        ids = select(Group.id).where(true())
    else:
        sharing_with = select(Consent.group_id).where(
            Consent.user_id.in_(users), Consent.granted.is_(True)
        )
        ids = select(Group.id).where(or_(Group.id.in_(touched.groups), Group.id.in_(sharing_with)))
    source = ids.add_columns(literal(1), literal(0)).order_by(Group.id)
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
    return _record_changed_members(connection, dialect, touched)


def _record_changed_members(connection, dialect, touched: _Touched) -> set[int]:
    """Who changed what, per group: an item counts in the groups its member shares its
    category with, a region in every group they share anything with, a consent in its
    group for every kind of data of its category.

    A member who shares nothing of a kind with a group changes nothing in its
    figures, so they never count towards its next release.
    """
    found: set[tuple[int, int, str]] = set()
    categories = {category for _user, _kind, category in touched.items}
    roots = dict(
        connection.execute(
            select(Category.id, func.coalesce(Category.parent_id, Category.id)).where(
                Category.id.in_(categories)
            )
        ).all()
    )
    wanted = {(user, roots[category]) for user, _kind, category in touched.items}
    shared = set()
    if wanted:
        shared = {
            (user, root, group)
            for group, user, root in connection.execute(
                select(Consent.group_id, Consent.user_id, Consent.category_id).where(
                    Consent.granted.is_(True),
                    Consent.user_id.in_({user for user, _root in wanted}),
                )
            )
        }
    for user, kind, category in touched.items:
        root = roots[category]
        found |= {(g, u, f"{kind}:{root}") for u, r, g in shared if u == user and r == root}
    if touched.regions:
        found |= {
            (group, user, "region")
            for group, user in connection.execute(
                select(Consent.group_id, Consent.user_id)
                .where(Consent.user_id.in_(touched.regions), Consent.granted.is_(True))
                .distinct()
            )
        }
    if touched.consents:
        # A consent changes the figures of the kinds of data its member has in its category.
        held = set()
        consent_users = {user for _group, user, _root in touched.consents}
        for model, kind in ITEM_KINDS.items():
            held |= {
                (user, kind, root)
                for user, root in connection.execute(
                    select(model.user_id, func.coalesce(Category.parent_id, Category.id))
                    .join(Category, Category.id == model.category_id)
                    .where(model.user_id.in_(consent_users))
                    .distinct()
                )
            }
        for group, user, root in touched.consents:
            found |= {
                (group, user, f"{kind}:{root}")
                for kind in ITEM_KINDS.values()
                if (user, kind, root) in held
            }
    if not found:
        return set()
    if touched.removal:
        # Data taken away where the group counted it: its release is withdrawn. Data it
        # never saw (a category not shared, a member sharing nothing) withdraws nothing.
        connection.execute(
            update(AnalyticsVersion)
            .where(AnalyticsVersion.group_id.in_({group for group, _u, _s in found}))
            .values(removals=AnalyticsVersion.removals + 1)
        )
    counters = dict(
        connection.execute(
            select(AnalyticsVersion.group_id, AnalyticsVersion.changes).where(
                AnalyticsVersion.group_id.in_({group for group, _u, _s in found})
            )
        ).all()
    )
    rows = [
        {"group_id": g, "user_id": u, "strand": strand, "change": counters[g]}
        for g, u, strand in sorted(found)
        if g in counters
    ]
    if not rows:
        return set()
    table = ChangedMember.__table__
    statement = dialect.insert(table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["group_id", "user_id", "strand"],
        set_={"change": statement.excluded.change},
    )
    connection.execute(statement)
    return {row["group_id"] for row in rows}


def _ask_for_releases(session, group_ids: set[int]) -> None:
    """Once the changes commit, a worker publishes each group's release if it is now due."""
    for group_id in sorted(group_ids):
        jobs.enqueue_after_commit(session, PUBLISH_JOB, group_id)


def _was(state, name, value) -> bool:
    return value in state.attrs[name].history.deleted


def _touch(obj, touched: _Touched, *, deleted: bool) -> None:
    state = inspect(obj)
    read = FIGURE_COLUMNS.get(type(obj))
    updated = read is not None and not deleted and state.persistent
    if updated and not any(state.attrs[column].history.has_changes() for column in read):
        return  # saved again, or a private note edited: no figure reads what changed
    if isinstance(obj, Preference | Intent | Feedback):
        kind = ITEM_KINDS[type(obj)]
        for category in {obj.category_id, *state.attrs.category_id.history.deleted}:
            if category is not None:
                touched.items.add((obj.user_id, kind, category))
        touched.removal |= deleted
    elif isinstance(obj, PreferenceCompany):
        touched.preferences.add(obj.preference_id)
        touched.removal |= deleted
    elif isinstance(obj, Consent):
        touched.groups.add(obj.group_id)
        touched.consents.add((obj.group_id, obj.user_id, obj.category_id))
        touched.removal |= deleted or _was(state, "granted", True)
    elif isinstance(obj, Membership):
        # Leaving ends the member's consents, which count as their change.
        touched.groups.add(obj.group_id)
        touched.removal |= deleted or _was(state, "status", MembershipStatus.ACTIVE)
    elif isinstance(obj, User):  # a member's region (filters); other account changes do not count
        if state.attrs.region_key.history.has_changes():
            touched.regions.add(obj.id)
    elif isinstance(obj, Company) and state.attrs.merged_into_id.history.has_changes():
        touched.everyone = True  # a merge moves ratings and mentions (their owners: bulk updates)


def _count_flushed_changes(session, flush_context):
    touched = _Touched()
    for obj in (*session.new, *session.dirty):
        _touch(obj, touched, deleted=False)
    for obj in session.deleted:
        _touch(obj, touched, deleted=True)
    if touched:
        _ask_for_releases(session, _raise_versions(session.connection(), touched))


# Tables whose rows feed the figures; bulk writes to them count for every group.
_TRACKED_TABLES = frozenset(
    model.__table__
    for model in (Preference, Intent, Feedback, PreferenceCompany, Consent, Membership)
)


def _bulk_touched(connection, statement, touched: _Touched) -> None:
    """The items and consents a bulk UPDATE or DELETE is about to change, and whose they are."""
    table = statement.table
    where = statement.whereclause if statement.whereclause is not None else true()
    # ORM statements carry an annotated copy of the table, equal to it but not the same object.
    kind = next((k for model, k in ITEM_KINDS.items() if model.__table__ == table), None)
    if kind is not None:
        query = select(table.c.user_id, table.c.category_id).where(where).distinct()
        touched.items |= {
            (user, kind, category)
            for user, category in connection.execute(query)
            if category is not None  # feedback about no category is never shared
        }
    elif table == PreferenceCompany.__table__:
        touched.preferences |= set(
            connection.execute(select(table.c.preference_id).where(where)).scalars()
        )
    elif table == Consent.__table__:
        query = select(table.c.group_id, table.c.user_id, table.c.category_id).where(where)
        touched.consents |= {tuple(row) for row in connection.execute(query)}
        touched.groups |= {group for group, _user, _category in touched.consents}
    elif table == Membership.__table__:
        touched.groups |= set(connection.execute(select(table.c.group_id).where(where)).scalars())


def _count_bulk_changes(state):
    """Bulk INSERT/UPDATE/DELETE statements (erasure, merges) bypass the flush.

    The rows an UPDATE or DELETE is about to change are read first: their
    members' groups (and, for memberships and consents, their own groups)
    are the ones touched, each as a removal; one member's erasure leaves
    every other group's release alone. A bulk INSERT, which nothing does
    today, counts for every group and records nobody, so it never brings a
    release forward.
    """
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if table is not None and table in _TRACKED_TABLES:
            connection = state.session.connection()
            touched = _Touched(everyone=state.is_insert, removal=not state.is_insert)
            if not state.is_insert:
                _bulk_touched(connection, state.statement, touched)
            if touched:
                _ask_for_releases(state.session, _raise_versions(connection, touched))


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
        total_shown=data.get("total_shown", True),
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
        "total_shown": table.total_shown,
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
    data["regions"] = figures.regions
    return json.dumps(data)


def _load(payload: str) -> Figures:
    data = json.loads(payload)
    tables = {name: _table(data[name]) for name in TABLES}
    return Figures(
        k=data["k"],
        trends={name: _table(table) for name, table in data["trends"].items()},
        noise_epsilon=Fraction(data["noise_epsilon"]) if data["noise_epsilon"] else None,
        regions=[tuple(region) for region in data.get("regions", [])],
        **tables,
    )


def rules_of(session: Session, group) -> str:
    """The privacy rules a release follows: another value withdraws it."""
    charter = current_charter(session, group)
    return (
        f"k={charter.k_anonymity}|noise={charter.noise_epsilon_milli}"
        f"|categories={charter['privacy.categories']}"
    )[:200]


@dataclass
class ReleaseState:
    """What the page can show of a group's figures now, and why."""

    number: int = 0  # the release on the page; 0: none yet
    released_at: datetime | None = None
    # Why the release left the page: "removal" (data taken back) or "rules" (privacy rules changed).
    withdrawn: str | None = None
    due: bool = True  # a new release may be published now
    k: int = 0

    @property
    def shown(self) -> bool:
        return self.number > 0 and self.withdrawn is None


def latest_releases(session: Session, group_ids: list[int]) -> dict[int, datetime]:
    """When each of these groups last published its figures (groups with none are absent)."""
    if not group_ids:
        return {}
    rows = session.execute(
        select(AnalyticsVersion.group_id, AnalyticsVersion.released_at).where(
            AnalyticsVersion.group_id.in_(group_ids), AnalyticsVersion.release_number > 0
        )
    )
    return {group_id: released_at for group_id, released_at in rows if released_at is not None}


def release_state(session: Session, group) -> ReleaseState:
    """The group's current release, whether it was withdrawn, and whether a new one is due."""
    k = current_charter(session, group).k_anonymity
    version = session.get(AnalyticsVersion, group.id, populate_existing=True)
    if version is None or version.release_number == 0:
        return ReleaseState(k=k)
    withdrawn = None
    whole_page = select(AnalyticsSnapshot.id).where(
        AnalyticsSnapshot.group_id == group.id,
        AnalyticsSnapshot.key == filters_key(Filters()),
    )
    if version.removals != version.released_removals or session.scalar(whole_page) is None:
        withdrawn = "removal"  # or its pages went with a member's erasure
    elif version.released_rules != rules_of(session, group):
        withdrawn = "rules"
    strands = session.execute(
        select(ChangedMember.strand, func.count())
        .where(ChangedMember.group_id == group.id, ChangedMember.change > version.released_changes)
        .group_by(ChangedMember.strand)
    ).all()
    return ReleaseState(
        number=version.release_number,
        released_at=version.released_at,
        withdrawn=withdrawn,
        due=bool(strands) and all(count >= k for _strand, count in strands),
        k=k,
    )


def publish_release(session: Session, group, tree) -> ReleaseState:
    """Publish the group's next release if one is due (every page of every filter at once).

    Publications of a group wait for each other (PostgreSQL row lock); the
    second then finds nothing due. The counters are read after the lock and
    before any figure, so the release holds at least every change they
    count, and only the members counted up to them are cleared.
    """
    session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    state = release_state(session, group)
    if not state.due:
        return state
    version = session.get(AnalyticsVersion, group.id, populate_existing=True)
    if version is None:
        version = AnalyticsVersion(group_id=group.id, changes=0, removals=0)
        session.add(version)
        session.flush()
    changes, removals = version.changes, version.removals
    charter = current_charter(session, group)
    before = json.loads(version.released_meta) if version.released_meta else None
    if version.release_number == 0:
        before = None  # nothing released yet: nothing to compare with
    with ExitStack() as stack:
        rows = stack.enter_context(gathered(session, group.id, allowed_roots(charter, tree)))
        offered = {
            dimension: list(offered_split(session, group, charter, tree, dimension).values)
            for dimension in FILTER_DIMENSIONS
        }
        moved = changes_since_release(
            session, group.id, tree, charter.k_anonymity, rows, before, stack, offered
        )
        pages = all_pages(session, group, tree, RELEASE_LOCALE, tables=rows, changes=moved)
        save_basis(session, group.id, rows, moved.assignments)
        whole = pages[Filters()]
        meta = moved.remember(
            released_cells(pages), [int(r.key) for r in whole.ratings.rows if r.key.isdigit()]
        )
    now = utcnow()
    session.execute(delete(AnalyticsSnapshot).where(AnalyticsSnapshot.group_id == group.id))
    session.add_all(
        AnalyticsSnapshot(
            group_id=group.id,
            key=filters_key(filters),
            changes=changes,
            removals=removals,
            payload=_dump(figures),
            created_at=now,
        )
        for filters, figures in pages.items()
    )
    session.execute(
        update(AnalyticsVersion)
        .where(AnalyticsVersion.group_id == group.id)
        .values(
            release_number=AnalyticsVersion.release_number + 1,
            released_at=now,
            released_changes=changes,
            released_removals=removals,
            released_rules=rules_of(session, group),
            released_meta=json.dumps(meta),
        )
    )
    session.execute(
        delete(ChangedMember).where(
            ChangedMember.group_id == group.id, ChangedMember.change <= changes
        )
    )
    session.flush()
    return release_state(session, group)


def released_cells(pages: dict) -> set[str]:
    """The rows a release shows, by name (``changes.cell_name``)."""
    return {
        cell_name(filters_key(filters), table.name, row.key)
        for filters, figures in pages.items()
        for table in figures.tables()
        for row in rows_of(table)
        if row.released
    }


def released_page(session: Session, group, filters, state: ReleaseState) -> Figures | None:
    """The page of ``filters`` in the release on show; None where there is none to show."""
    if not state.shown:
        return None
    payload = session.scalar(
        select(AnalyticsSnapshot.payload).where(
            AnalyticsSnapshot.group_id == group.id,
            AnalyticsSnapshot.key == filters_key(filters),
        )
    )
    if payload is None:
        return None
    figures = _load(payload)
    figures.computed_at = state.released_at
    return figures


def released_filters(session: Session, group, state: ReleaseState) -> list[Filters]:
    """The filter pages the release on show holds (what the page may offer)."""
    if not state.shown:
        return []
    keys = session.scalars(
        select(AnalyticsSnapshot.key).where(AnalyticsSnapshot.group_id == group.id)
    )
    found = []
    for key in keys:
        category, region, year = (None if part == "None" else part for part in key.split("|", 2))
        found.append(
            Filters(
                root_category_id=int(category) if category else None,
                region_key=region,
                year=int(year) if year else None,
            )
        )
    return found


def publish_if_due(session: Session, group, tree, *, wait_up_to: int | None = None) -> ReleaseState:
    """Publish the group's due release now, unless the group is larger than ``wait_up_to``.

    A large group's page never waits for its release: the state then says it
    is due and the caller has it published after the response
    (``background.py``); meanwhile the previous one is shown unless withdrawn.
    """
    state = release_state(session, group)
    if state.due and (wait_up_to is None or active_member_count(session, group) <= wait_up_to):
        state = publish_release(session, group, tree)
    return state


def published_figures(session: Session, group, filters, tree, **options) -> Figures | None:
    """The page of ``filters`` from the group's release, published first if due."""
    return released_page(session, group, filters, publish_if_due(session, group, tree, **options))


def init_app(app) -> None:
    """Count every change the figures depend on, in the transaction that makes it.

    The listeners watch every session (web, jobs, commands), since a change
    made anywhere moves the figures; they are connected here, once.
    """
    for name, listener in (
        ("after_flush", _count_flushed_changes),
        ("do_orm_execute", _count_bulk_changes),
    ):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
