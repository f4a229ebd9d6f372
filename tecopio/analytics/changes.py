"""What moved between releases, row by row, and for how many members.

k-anonymity of each release alone does not stop differencing: a row going
from 6 to 7 members between two releases tells what one member did, even
when the changes of k members brought the new release. So every release
compares each member's part in each row with their part when that row was
last released:

- A release is computed from the rows gathered for it (``source.gathered``).
  They are kept per group as the **basis** of the next release
  (``BasisItem``, ``BasisLink``, and each member's segment on each page in
  ``BasisSegment``): a copy of what members shared, never shown and never
  counted, only compared. The next release replaces it.
- At the next release the **candidates** are the members whose gathered
  rows differ from the basis (and the members of held rows, below). For each
  of them alone, every figure of every page is computed from their current
  rows and from their basis rows, by the figures' own code with one bucket
  per member (``Split.by_member``): their **part** in each row, now and at
  the previous release.
- A row's ``changed`` is how many members' part differs from when the row
  was last released; 1 to k−1 hides it (``Suppressed.CHANGED``). Its
  ``deltas`` are how each member's additive numbers moved since the previous
  release, which the release checks for every sum of hidden rows that other
  figures determine (``release.moved_for_too_few``).
- A row released once and hidden since, for whatever reason, is **held**:
  the parts its members had when it was last released are kept
  (``HeldPart``), so that when it comes back it is compared with that
  release, not with the releases that hid it.

Rows are named by page, figure and row (``cell_name``). An erased account's
rows here are kept under a negative stand-in that names no one, until the
next release replaces them, so that the release after an erasure is still
compared with the one before it.
"""

import json
import secrets
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from fractions import Fraction

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    cast,
    delete,
    except_,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from tecopio.analytics import queries
from tecopio.analytics.release import ADDITIVE, Row
from tecopio.analytics.release import Table as Figure
from tecopio.analytics.source import (
    COLUMNS,
    OUTSIDE,
    WHOLE_BUCKET,
    Split,
    bucket_of,
    page_key,
    temporary_table,
)
from tecopio.db import db
from tecopio.memberdata.models import Feedback, Intent, Preference, PreferenceCompany

KINDS = {Intent: "intent", Preference: "preference", Feedback: "feedback"}
# Marks a column that holds a user's id without a foreign key (it outlives the account's
# link under a stand-in): the walk over every table for a person's rows reads it.
PERSON = {"refers_to": "users.id"}
# Gathered columns stored under another name in the basis.
_STORED_AS = {"user_id": "member", "id": "item_id"}
# The figures' rows, member by member, are computed with labels in this language.
_LOCALE = "en"


class BasisItem(db.Model):
    """One gathered row of the group's latest release: what its figures were computed from."""

    __tablename__ = "analytics_basis_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # The owner's user id; after an erasure, a negative stand-in that names no one.
    member: Mapped[int] = mapped_column(index=True, info=PERSON)
    item_id: Mapped[int]
    category_id: Mapped[int | None]
    root_id: Mapped[int | None]
    quantity: Mapped[int | None]
    unit: Mapped[str | None] = mapped_column(String(20))
    budget_min: Mapped[int | None]
    budget_max: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    window_start: Mapped[date | None]
    status: Mapped[str | None] = mapped_column(String(40))
    importance: Mapped[int | None]
    values: Mapped[list | None] = mapped_column(JSON)
    company_id: Mapped[int | None]
    rating: Mapped[int | None]
    commented: Mapped[int | None]
    created_at: Mapped[datetime | None]
    region_key: Mapped[str | None] = mapped_column(String(100))


class BasisLink(db.Model):
    """A company a gathered preference named, in the group's latest release."""

    __tablename__ = "analytics_basis_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    member: Mapped[int] = mapped_column(index=True, info=PERSON)
    preference_id: Mapped[int]
    company_id: Mapped[int]
    stance: Mapped[str] = mapped_column(String(40))


class BasisSegment(db.Model):
    """The segment a member fell in on one page of the group's latest release."""

    __tablename__ = "analytics_basis_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    member: Mapped[int] = mapped_column(index=True, info=PERSON)
    page: Mapped[str] = mapped_column(String(200))
    segment: Mapped[str | None] = mapped_column(String(40))  # None: on the page, in no segment


class HeldPart(db.Model):
    """A member's part in a row as it was when the row was last released, while it is held.

    ``member`` 0 marks the row as held (released before, hidden since) even
    when no member's part has moved yet; ``part`` None: the member had none.
    """

    __tablename__ = "analytics_held_parts"
    __table_args__ = (UniqueConstraint("group_id", "cell", "member"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    cell: Mapped[str] = mapped_column(String(300))
    member: Mapped[int] = mapped_column(index=True, info=PERSON)
    part: Mapped[str | None] = mapped_column(Text)


HELD_MARK = 0

# Numbers that divide by another row's: a share moves with its denominator, which members
# outside the row move too. figure -> (number, row key -> (figure, row key, number)).
DEPENDS_ON = {
    "preference_values": (
        "share",
        lambda key: ("preference_roots", key.split(":", 1)[0], "weight"),
    ),
    "segments": ("share", lambda key: ("segments", "population", "members")),
}


def cell_name(page: str, figure: str, row: str) -> str:
    return f"{page}/{figure}/{row}"[:300]


def rows_of(table: Figure) -> Iterable[Row]:
    yield from table.all_rows()
    if table.total is not None:
        yield table.total


def _plain(values: dict) -> dict:
    """A row's numbers as JSON keeps them (exact fractions as text), so that parts compare
    the same before and after being held."""
    return {
        name: str(value) if isinstance(value, Fraction) else value for name, value in values.items()
    }


def _additive(part: dict | None) -> dict:
    if not part:
        return {}
    return {name: part[name] or 0 for name in ADDITIVE if name in part}


def _delta(now: dict | None, old: dict | None) -> dict:
    after, before = _additive(now), _additive(old)
    moved = {name: after.get(name, 0) - before.get(name, 0) for name in {*after, *before}}
    return {name: value for name, value in moved.items() if value}


def _basis_columns(model) -> list[str]:
    return [*COLUMNS[model], "region_key"]


def _as_stored(name: str) -> str:
    return _STORED_AS.get(name, name)


def _comparable(column):
    """JSON has no equality on PostgreSQL: rows are compared with their values as text."""
    return cast(column, Text) if isinstance(column.type, JSON) else column


def _basis_rows(model, group_id: int, members=None):
    """A gathered-rows SELECT of the group's basis for ``model``, named as gathered rows."""
    table = BasisItem.__table__
    statement = select(
        *(table.c[_as_stored(name)].label(name) for name in _basis_columns(model))
    ).where(table.c.group_id == group_id, table.c.kind == KINDS[model])
    if members is not None:
        statement = statement.where(table.c.member.in_(select(members.c.member)))
    return statement


def _basis_links(group_id: int, members=None):
    table = BasisLink.__table__
    statement = select(
        table.c.member.label("user_id"),
        table.c.preference_id,
        table.c.company_id,
        table.c.stance,
    ).where(table.c.group_id == group_id)
    if members is not None:
        statement = statement.where(table.c.member.in_(select(members.c.member)))
    return statement


def _now_rows(table, members):
    return select(table).where(table.c.user_id.in_(select(members.c.member)))


def _differing_members(session: Session, group_id: int, tables: dict) -> set[int]:
    """Members whose gathered rows (or named companies) differ from the group's basis."""
    found: set[int] = set()
    for model in KINDS:
        now = tables[model]
        names = _basis_columns(model)
        current = select(*(_comparable(now.c[name]).label(name) for name in names))
        basis = _basis_rows(model, group_id).subquery()
        stored = select(*(_comparable(basis.c[name]).label(name) for name in names))
        for first, second in ((current, stored), (stored, current)):
            differing = except_(first, second).subquery()
            found |= set(session.scalars(select(differing.c.user_id).distinct()))
    now_links = tables[PreferenceCompany]
    current = select(*now_links.c)
    stored = _basis_links(group_id)
    for first, second in ((current, stored), (stored, current)):
        differing = except_(first, second).subquery()
        found |= set(session.scalars(select(differing.c.user_id).distinct()))
    return found


def save_basis(session: Session, group_id: int, tables: dict, segments: dict) -> None:
    """Keep the rows a release was computed from, and each member's segments, for the next."""
    for model in (BasisItem, BasisLink, BasisSegment):
        session.execute(delete(model).where(model.group_id == group_id))
    for model, kind in KINDS.items():
        gathered = tables[model]
        names = _basis_columns(model)
        session.execute(
            insert(BasisItem).from_select(
                ["group_id", "kind", *(_as_stored(name) for name in names)],
                select(literal(group_id), literal(kind), *(gathered.c[name] for name in names)),
            )
        )
    links = tables[PreferenceCompany]
    session.execute(
        insert(BasisLink).from_select(
            ["group_id", "member", "preference_id", "company_id", "stance"],
            select(literal(group_id), *links.c),
        )
    )
    rows = [
        {"group_id": group_id, "member": member, "page": page, "segment": segment}
        for page, assignment in segments.items()
        for member, segment in assignment.items()
    ]
    if rows:
        session.execute(insert(BasisSegment.__table__), rows)


def detach_member(session: Session, user_id: int, regions_offered) -> None:
    """An erased account's rows here keep their place under a stand-in that names no one.

    One stand-in per group, the same in every table, so that the next release
    still compares the person's old part with none; a region is kept only
    where the group offers it (``regions_offered(group_id)``: k members or
    more live there), since a smaller one could tell who it was.
    """
    groups: set[int] = set()
    for model in (BasisItem, BasisLink, BasisSegment, HeldPart):
        groups |= set(session.scalars(select(model.group_id).where(model.member == user_id)))
    for group_id in sorted(groups):
        taken = set(
            session.scalars(
                select(BasisItem.member).where(BasisItem.group_id == group_id, BasisItem.member < 0)
            )
        )
        stand_in = -(secrets.randbelow(2**31 - 2) + 1)
        while stand_in in taken:  # two former members never merge into one
            stand_in = -(secrets.randbelow(2**31 - 2) + 1)
        for model in (BasisItem, BasisLink, BasisSegment, HeldPart):
            session.execute(
                update(model)
                .where(model.group_id == group_id, model.member == user_id)
                .values(member=stand_in)
            )
        session.execute(
            update(BasisItem)
            .where(
                BasisItem.group_id == group_id,
                BasisItem.member == stand_in,
                BasisItem.region_key.not_in(regions_offered(group_id)),
            )
            .values(region_key=None)
        )


@dataclass
class Changes:
    """Every member's part in every row, now and when the row was last released.

    Built by ``changes_since_release`` inside the transaction that publishes
    the release; the queries annotate each row with it before releasing it
    (``annotate``), then ``remember`` keeps what the next release needs.
    """

    session: Session
    group_id: int
    tree: object
    k: int
    current: dict  # the candidates' rows now, by model (temporary tables)
    previous: dict  # the candidates' basis rows, by model (temporary tables)
    listed_before: list[int] | None
    released_before: set[str]
    held: dict  # cell -> {member: part when last released}
    segments_before: dict  # page -> {member: segment}
    # The values each filter offered in the previous release: its rows are put on the
    # pages they were on then (a region offered since was not a page then).
    pages_before: dict = field(default_factory=dict)
    compared: bool = False  # there is a previous release to compare with
    now: dict = field(default_factory=dict)  # cell -> {member: part}
    old: dict = field(default_factory=dict)
    # page -> {member: segment} of the new release, for the next one's comparison.
    assignments: dict = field(default_factory=dict)
    pages_now: dict = field(default_factory=dict)
    _computed: set = field(default_factory=set)

    def annotate(self, split: Split, bucket, tables: list[Figure], listed) -> None:
        """Set ``changed``, ``deltas`` and what the previous release showed on every row
        of one page's unreleased figures."""
        self._compute(split, listed)
        page = page_key(split, bucket)
        for table in tables:
            if table.assignment is not None:
                self._segments(page, table)
        for table in tables:
            for row in rows_of(table):
                cell = cell_name(page, table.name, row.key)
                moved = self.moved_numbers(cell)
                depends = DEPENDS_ON.get(table.name)
                if depends is not None and depends[0] in row.values:
                    number, (figure, key, other) = depends[0], depends[1](row.key)
                    moved[number] = (
                        moved.get(number, set())
                        | moved.get(other, set())
                        | self.moved_numbers(cell_name(page, figure, key)).get(other, set())
                    )
                row.changed = min((len(found) for found in moved.values() if found), default=0)
                row.deltas = self.deltas(cell)
                if self.compared:
                    row.shown_before = cell in self.released_before
                    row.members_before = row.members - sum(
                        delta.get("members", 0) for delta in row.deltas.values()
                    )

    def _baseline(self, cell: str) -> tuple[dict, dict, set]:
        """Parts now, parts when the row was last released (held, or at the previous
        release), and every member with either."""
        now, held = self.now.get(cell, {}), self.held.get(cell, {})
        before = dict(self.old.get(cell, {}))
        before |= {member: part for member, part in held.items() if member != HELD_MARK}
        return now, before, set(before) | set(now)

    def moved(self, cell: str) -> set[int]:
        """Members whose part in ``cell`` differs from when it was last released."""
        now, before, members = self._baseline(cell)
        return {member for member in members if now.get(member) != before.get(member)}

    def moved_numbers(self, cell: str) -> dict[str, set[int]]:
        """Per number of the row, the members who moved it since it was last released.

        Each number is its own difference between releases: a row whose
        budgets moved for k members and whose quantity moved for one tells
        that one member's quantity.
        """
        now, before, members = self._baseline(cell)
        by_number: dict = {}
        for member in members:
            after, earlier = now.get(member) or {}, before.get(member) or {}
            for name in {*after, *earlier}:
                if after.get(name) != earlier.get(name):
                    by_number.setdefault(name, set()).add(member)
        return by_number

    def deltas(self, cell: str) -> dict:
        now, old = self.now.get(cell, {}), self.old.get(cell, {})
        found = {member: _delta(now.get(member), old.get(member)) for member in {*now, *old}}
        return {member: delta for member, delta in found.items() if delta}

    def _segments(self, page: str, table: Figure) -> None:
        """Members' parts in the segments: the one they fell in, and the page's population.

        k-means can move members who changed nothing, so every member's
        segment is compared; only those whose segment moved (or whose parts
        are held) get parts, the others being the same before and after.
        """
        now, before = table.assignment, self.segments_before.get(page, {})
        self.assignments[page] = now
        prefix = cell_name(page, "segments", "")
        held = {m for cell, parts in self.held.items() if cell.startswith(prefix) for m in parts}
        in_segment = {"members": 1}
        for member in set(now) | set(before):
            same = member in now and member in before and now[member] == before[member]
            if same and member not in held:
                continue
            for assignment, into in ((now, self.now), (before, self.old)):
                if member not in assignment:
                    continue
                into.setdefault(cell_name(page, "segments", "population"), {})[member] = in_segment
                if assignment[member] is not None:
                    cell = cell_name(page, "segments", assignment[member])
                    into.setdefault(cell, {})[member] = in_segment

    def _compute(self, split: Split, listed) -> None:
        """Each candidate's part in every row of every page of ``split``, now and before."""
        if split.dimension in self._computed:
            return
        self._computed.add(split.dimension)
        if split.dimension is not None:
            self.pages_now[split.dimension] = list(split.values)
        before = split
        if split.dimension in self.pages_before:
            before = replace(split, values=tuple(self.pages_before[split.dimension]))
        for rows, into, companies, pages in (
            (self.current, self.now, listed, split),
            (self.previous, self.old, self.listed_before or listed, before),
        ):
            by_member = replace(pages, by_member=True, tables=rows)
            for bucket, tables in member_figures(
                self.session, self.group_id, by_member, self.tree, companies
            ).items():
                member, _, value = bucket.partition("|")
                page = page_key(pages, _bucket_value(pages, value))
                for table in tables:
                    for row in rows_of(table):
                        if row.members == 0:  # a star nobody gave, listed all the same
                            continue
                        cell = cell_name(page, table.name, row.key)
                        into.setdefault(cell, {})[int(member)] = _plain(row.values)

    def remember(self, released: set[str], listed: list[int]) -> dict:
        """Hold every row released before and hidden now; what the version row keeps.

        The held rows are written anew: a row shown again is no longer held,
        and a member whose part came back to what it was is no longer kept.
        """
        session, group_id = self.session, self.group_id
        session.execute(delete(HeldPart).where(HeldPart.group_id == group_id))
        rows = []
        for cell in sorted((self.released_before | set(self.held)) - released):
            held, old = self.held.get(cell, {}), self.old.get(cell, {})
            rows.append({"group_id": group_id, "cell": cell, "member": HELD_MARK, "part": None})
            for member in sorted(self.moved(cell)):
                part = held[member] if member in held else old.get(member)
                rows.append(
                    {
                        "group_id": group_id,
                        "cell": cell,
                        "member": member,
                        "part": json.dumps(part) if part is not None else None,
                    }
                )
        if rows:
            session.execute(insert(HeldPart.__table__), rows)
        return {"cells": sorted(released), "listed": listed, "pages": self.pages_now}


def _bucket_value(split: Split, value: str):
    if value == OUTSIDE:
        return None
    if split.dimension is None:
        return WHOLE_BUCKET
    # A page no longer offered (a category the charter stopped adding up) keeps its name.
    return value if split.dimension == "region" else int(value)


def member_figures(session: Session, group_id: int, split: Split, tree, listed) -> dict:
    """Every figure but segments, per bucket "<member>|<page>" of a ``by_member`` split:
    the figures' own code, run member by member."""
    found: dict = {}

    def add(tables: dict) -> None:
        for bucket, table in tables.items():
            found.setdefault(bucket, []).extend(table if isinstance(table, tuple) else [table])

    add(queries.demand_tables(session, group_id, split, tree, _LOCALE, 1, banded=False))
    add(queries.windows_tables(session, group_id, split))
    add(queries.preference_tables(session, group_id, split, tree, _LOCALE, None))
    add(queries.ratings_tables(session, group_id, split, 1, listed or []))
    for name, model in queries.TREND_KINDS.items():
        add(queries.trend_tables(session, group_id, split, model, name))
    return found


def _candidates_table(session: Session, members: set[int]):
    table = Table(
        f"analytics_candidates_{secrets.token_hex(6)}",
        MetaData(),
        Column("member", Integer, primary_key=True),
        prefixes=["TEMPORARY"],
    )
    connection = session.connection()
    table.create(connection)
    if members:
        connection.execute(insert(table), [{"member": member} for member in sorted(members)])
    return table


def _members_on_pages(session: Session, group_id: int, tables: dict, pages: dict) -> set[int]:
    """Members with rows, now or in the basis, on pages a filter offers now and did not
    then, or offered then and does not now (``pages``: dimension -> those values): their
    rows moved from page to page though their data did not."""
    found: set[int] = set()
    for dimension, values in pages.items():
        split = Split(dimension, tuple(values))
        for model in KINDS:
            for rows in (tables[model], _basis_rows(model, group_id).subquery()):
                bucket = bucket_of(rows.c, split)
                found |= set(
                    session.scalars(select(rows.c.user_id).where(bucket.is_not(None)).distinct())
                )
    return found


def changes_since_release(
    session: Session,
    group_id: int,
    tree,
    k: int,
    tables: dict,
    meta: dict | None,
    stack: ExitStack,
    pages_now: dict | None = None,
) -> Changes:
    """What every row's members changed since it was last released (see the module).

    ``tables`` are the rows gathered for the new release; ``meta`` what the
    previous release kept (``Changes.remember``; None before the first
    release, which has nothing to be compared with); ``pages_now`` the values
    each filter offers now (dimension -> values). Temporary tables made here
    are dropped when ``stack`` closes.
    """
    held: dict = {}
    for cell, member, part in session.execute(
        select(HeldPart.cell, HeldPart.member, HeldPart.part).where(HeldPart.group_id == group_id)
    ):
        held.setdefault(cell, {})[member] = json.loads(part) if part is not None else None
    segments_before: dict = {}
    for page, member, segment in session.execute(
        select(BasisSegment.page, BasisSegment.member, BasisSegment.segment).where(
            BasisSegment.group_id == group_id
        )
    ):
        segments_before.setdefault(page, {})[member] = segment
    members = _differing_members(session, group_id, tables) if meta is not None else set()
    members |= {member for parts in held.values() for member in parts} - {HELD_MARK}
    pages_before = (meta or {}).get("pages", {})
    moved_pages = {
        dimension: set(values) ^ set(pages_before[dimension])
        for dimension, values in (pages_now or {}).items()
        if dimension in pages_before
    }
    if meta is not None:
        members |= _members_on_pages(
            session, group_id, tables, {d: v for d, v in moved_pages.items() if v}
        )
    candidates = _candidates_table(session, members)
    connection = session.connection()
    current, previous = {}, {}
    for model in KINDS:
        current[model] = temporary_table(
            connection, _now_rows(tables[model], candidates), f"now_{model.__tablename__}"
        )
        previous[model] = temporary_table(
            connection, _basis_rows(model, group_id, candidates), f"was_{model.__tablename__}"
        )
    current[PreferenceCompany] = temporary_table(
        connection, _now_rows(tables[PreferenceCompany], candidates), "now_links"
    )
    previous[PreferenceCompany] = temporary_table(
        connection, _basis_links(group_id, candidates), "was_links"
    )

    def drop() -> None:
        for table in [*current.values(), *previous.values(), candidates]:
            table.drop(connection)

    stack.callback(drop)
    meta = meta or {}
    return Changes(
        session=session,
        group_id=group_id,
        tree=tree,
        k=k,
        current=current,
        previous=previous,
        listed_before=meta.get("listed"),
        released_before=set(meta.get("cells", [])),
        pages_before=meta.get("pages", {}),
        compared="cells" in meta,
        held=held,
        segments_before=segments_before,
    )
