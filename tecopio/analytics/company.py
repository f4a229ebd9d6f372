"""What companies see of a group: figures released with the charter's company k.

A demand offer freezes a **company release**: the demand and time-window
figures of one top category (and its sub-categories), computed by the
analytics page's own code (``queries._compute``, then the same withholding
of counts) with the stricter company k. Companies may compare offers with
each other, so successive company releases are compared row by row just as
the members' releases are (``changes.py``), against a basis of their own:
every member's part in every row companies were shown (``CompanyPart``).
A row one of whose numbers moved, since companies last saw it, for 1 to
k−1 members is hidden (``Suppressed.CHANGED``, with its complements), and
the sums of hidden rows are checked against the previous company release.
The basis is never shown; it is only compared.
"""

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    JSON,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from tecopio.analytics import queries
from tecopio.analytics.changes import (
    PERSON,
    _delta,
    _plain,
    member_figures,
    rows_of,
)
from tecopio.analytics.release import Table
from tecopio.analytics.source import WHOLE_BUCKET, Split, allowed_roots
from tecopio.db import db, utcnow
from tecopio.governance.charters import current_charter
from tecopio.groups.models import Group

# The figures a company release shows; the others are computed (they take part in
# the withholding of counts that span figures) and never leave.
COMPANY_FIGURES = ("demand", "windows")

# The feedback about partner companies (``release_company_feedback``).
FEEDBACK_SCOPE = "~feedback"  # no category slug holds "~"
FEEDBACK_FIGURES = ("ratings",)
# How many ratings have a written comment: the company reads its ratings, not their texts
# or how many have one (a count that rests on the few who wrote).
FEEDBACK_UNSHOWN = ("comments",)
FEEDBACK_EVERY = timedelta(days=1)


class CompanyPart(db.Model):
    """A member's part in a row of a company release.

    ``shown``: the part when companies last saw the row (kept while it is
    hidden, so that it comes back compared with what they saw); ``previous``:
    the part at the previous company release. ``member`` 0 marks the row
    itself: ``shown`` "1" when the previous company release showed it.
    """

    __tablename__ = "analytics_company_parts"
    __table_args__ = (UniqueConstraint("group_id", "cell", "member"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    cell: Mapped[str] = mapped_column(String(300))
    # The member's user id; after an erasure, a negative stand-in that names no one.
    member: Mapped[int] = mapped_column(index=True, info=PERSON)
    shown: Mapped[str | None] = mapped_column(Text)
    previous: Mapped[str | None] = mapped_column(Text)


ROW_MARK = 0


def _loads(value):
    return json.loads(value) if value is not None else None


@dataclass
class _CompanyChanges:
    """The ``changes.Changes`` interface the figures' code asks, against the company basis."""

    session: Session
    group_id: int
    scope: str
    tree: object
    shown: dict = field(default_factory=dict)  # cell -> {member: part when last shown}
    previous: dict = field(default_factory=dict)  # cell -> {member: part at previous release}
    ever_shown: set = field(default_factory=set)
    shown_last: set = field(default_factory=set)  # cells the previous company release showed
    compared: bool = False
    now: dict = field(default_factory=dict)
    figures: tuple = COMPANY_FIGURES  # the figures companies are shown of this release
    unshown: tuple = ()  # numbers of those figures companies are never shown: not compared

    def load(self) -> None:
        rows = self.session.execute(
            select(CompanyPart.cell, CompanyPart.member, CompanyPart.shown, CompanyPart.previous)
            .where(CompanyPart.group_id == self.group_id)
            .where(CompanyPart.cell.startswith(f"{self.scope}/"))
        )
        for cell, member, shown, previous in rows:
            self.compared = True
            if member == ROW_MARK:
                if shown is not None:
                    self.ever_shown.add(cell)
                if shown == "1":
                    self.shown_last.add(cell)
                continue
            if shown is not None:
                self.shown.setdefault(cell, {})[member] = _loads(shown)
            if previous is not None:
                self.previous.setdefault(cell, {})[member] = _loads(previous)

    def cell(self, table: str, key: str) -> str:
        return f"{self.scope}/{table}/{key}"[:300]

    def _parts_now(self, split: Split, listed) -> None:
        if self.now:
            return
        by_member = Split(roots=split.roots, by_member=True, partners_only=split.partners_only)
        for bucket, tables in self._member_tables(by_member, listed).items():
            member, _, page = bucket.partition("|")
            if page != str(WHOLE_BUCKET):
                continue
            for table in tables:
                if table.name not in self.figures:
                    continue
                for row in rows_of(table):
                    if row.members == 0:  # a star the member did not give, listed all the same
                        continue
                    part = {
                        name: value
                        for name, value in _plain(row.values).items()
                        if name not in self.unshown
                    }
                    self.now.setdefault(self.cell(table.name, row.key), {})[int(member)] = part

    def _member_tables(self, by_member: Split, listed) -> dict:
        """Each member's part in the figures companies are shown, by the figures' own code."""
        if self.figures == FEEDBACK_FIGURES:  # the ratings alone: no other figure is needed
            ratings = queries.ratings_tables(self.session, self.group_id, by_member, 1, listed)
            return {bucket: [table] for bucket, table in ratings.items()}
        return member_figures(self.session, self.group_id, by_member, self.tree, listed)

    def annotate(self, split: Split, bucket, tables, listed) -> None:
        self._parts_now(split, listed)
        for table in tables:
            if table.name not in self.figures:
                continue
            for row in rows_of(table):
                cell = self.cell(table.name, row.key)
                now = self.now.get(cell, {})
                previous = self.previous.get(cell, {})
                before = self.shown.get(cell, {}) if cell in self.ever_shown else previous
                moved: dict[str, set] = {}
                for member in {*now, *before}:
                    after, earlier = now.get(member) or {}, before.get(member) or {}
                    for name in {*after, *earlier}:
                        if after.get(name) != earlier.get(name):
                            moved.setdefault(name, set()).add(member)
                row.changed = min((len(found) for found in moved.values() if found), default=0)
                deltas = {m: _delta(now.get(m), previous.get(m)) for m in {*now, *previous}}
                row.deltas = {m: d for m, d in deltas.items() if d}
                if self.compared:
                    row.shown_before = cell in self.shown_last
                    row.members_before = row.members - sum(
                        d.get("members", 0) for d in row.deltas.values()
                    )

    def remember(self, tables: dict) -> None:
        """The basis for the next company release: every part now, and what was shown
        (``tables``: each released figure by name)."""
        session = self.session
        session.execute(
            delete(CompanyPart).where(
                CompanyPart.group_id == self.group_id,
                CompanyPart.cell.startswith(f"{self.scope}/"),
            )
        )
        rows = []
        for name in self.figures:
            for row, seen in _seen_rows(tables[name]):
                cell = self.cell(name, row.key)
                now = self.now.get(cell, {})
                if seen:
                    kept = now
                elif cell in self.ever_shown:
                    kept = self.shown.get(cell, {})
                else:
                    kept = None
                members = {*now, *(kept or {})}
                for member in members:
                    shown = kept.get(member) if kept is not None else None
                    rows.append(
                        {
                            "group_id": self.group_id,
                            "cell": cell,
                            "member": member,
                            "shown": json.dumps(shown) if kept is not None else None,
                            "previous": json.dumps(now.get(member)) if member in now else None,
                        }
                    )
                ever = seen or cell in self.ever_shown
                rows.append(
                    {
                        "group_id": self.group_id,
                        "cell": cell,
                        "member": ROW_MARK,
                        "shown": ("1" if seen else "0") if ever else None,
                        "previous": None,
                    }
                )
        if rows:
            session.execute(CompanyPart.__table__.insert(), rows)


def _seen_rows(table):
    """Each row of ``table`` and whether companies read it: released, under released rows
    only (``_released_rows`` gives no children of a hidden row)."""
    stack = [(row, True) for row in table.rows]
    if table.total is not None:
        stack.append((table.total, True))
    while stack:
        row, above = stack.pop()
        seen = above and row.released
        yield row, seen
        stack.extend((child, seen) for child in row.children)


def _released_rows(table, unshown: tuple = ()) -> list[dict]:
    def plain(row):
        if not row.released:
            return {"key": row.key, "hidden": True}
        return {
            "key": row.key,
            "members": row.values.get("members"),
            "values": {
                name: value
                for name, value in _plain(row.values).items()
                if name != "members" and name not in unshown and value is not None
            },
            "children": [plain(child) for child in row.children],
        }

    return [plain(row) for row in table.rows] + (
        [{**plain(table.total), "key": "total"}] if table.total is not None else []
    )


def _company_release(session: Session, group: Group, root, tree, *, keep: bool) -> dict:
    charter = current_charter(session, group)
    k = charter.company_k
    changes = _CompanyChanges(session, group.id, root.slug, tree)
    changes.load()
    split = Split(roots=(root.id,))
    figures = queries.company_page(
        session, group, k, split, tree, changes, noise=charter.noise_epsilon_milli if keep else None
    )
    if keep:
        changes.remember({name: figures.by_name(name) for name in COMPANY_FIGURES})
    return {
        "k": k,
        "category": root.slug,
        "computed_at": utcnow().isoformat(),
        "demand": _released_rows(figures.demand),
        "windows": _released_rows(figures.windows),
    }


def freeze_company_release(session: Session, group: Group, root, tree) -> dict:
    """The demand of ``root``'s subtree as companies may see it, and the basis kept for the
    next company release. Run once per publication, in its transaction; the group's row is
    locked so that two publications in one group compare with each other in turn."""
    session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    return _company_release(session, group, root, tree, keep=True)


def preview_company_release(session: Session, group: Group, root, tree) -> dict:
    """What publishing now would show, for the admins building the offer (who see the
    members' figures anyway); writes nothing. Without noise: the published one may differ."""
    return _company_release(session, group, root, tree, keep=False)


# --- the feedback about partner companies ----------------------------------------------


class CompanyFeedbackRelease(db.Model):
    """The latest release of a group's feedback about the partner companies it invited.

    Only feedback its authors let partner companies count, released with the
    company k by the analytics page's code and compared, row by row, with the
    previous feedback release (``CompanyPart`` under ``FEEDBACK_SCOPE``). Each
    company is shown its own row of ``figures`` only.
    """

    __tablename__ = "analytics_company_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), unique=True)
    released_at: Mapped[datetime] = mapped_column(default=utcnow)
    figures: Mapped[dict] = mapped_column(JSON, default=dict)


def latest_feedback_release(session: Session, group_id: int) -> CompanyFeedbackRelease | None:
    return session.scalar(
        select(CompanyFeedbackRelease).where(CompanyFeedbackRelease.group_id == group_id)
    )


def feedback_release_due(release: CompanyFeedbackRelease | None, now: datetime) -> bool:
    """Looked at again at most once a day (the job runs hourly)."""
    return release is None or release.released_at + FEEDBACK_EVERY <= now


def _moved(row) -> bool:
    """Whether any member's part in the row or its stars moved since the previous release."""
    return bool(row.deltas) or any(child.deltas for child in row.children)


def release_company_feedback(
    session: Session, group: Group, tree, listed: list[int], now: datetime
) -> CompanyFeedbackRelease:
    """Release the ratings of the directory companies ``listed`` (those of the partner
    accounts the group invited), and keep the basis for the next feedback release.

    The group's row is locked first and the day checked again, so that two workers
    release once. A company's row in which no member's part moved since the previous
    release (with the same k) stays as companies read it: fresh noise on unchanged data
    would let them average it away, spend the privacy budget for nothing, and tell by
    its redrawing that another company's row moved.
    """
    session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    previous = latest_feedback_release(session, group.id)
    if not feedback_release_due(previous, now):
        return previous
    charter = current_charter(session, group)
    k = charter.company_k
    changes = _CompanyChanges(
        session, group.id, FEEDBACK_SCOPE, tree, figures=FEEDBACK_FIGURES, unshown=FEEDBACK_UNSHOWN
    )
    changes.load()
    split = Split(roots=allowed_roots(charter, tree), partners_only=True)
    ratings = queries.company_ratings(session, group, k, split, changes, listed=sorted(listed))
    if previous is None:
        previous = CompanyFeedbackRelease(group_id=group.id, figures={})
        session.add(previous)
    before = previous.figures.get("companies", {}) if previous.figures.get("k") == k else {}
    kept = {
        row.key
        for row in ratings.rows
        if changes.compared and row.key in before and not _moved(row)
    }
    moved = Table("ratings", [row for row in ratings.rows if row.key not in kept])
    if charter.noise_epsilon_milli and moved.rows:
        queries.add_company_noise(session, group, charter.noise_epsilon_milli, moved)
    changes.remember({"ratings": ratings})
    previous.figures = {
        "k": k,
        "companies": {
            **{key: before[key] for key in kept},
            **{row["key"]: row for row in _released_rows(moved, FEEDBACK_UNSHOWN)},
        },
    }
    previous.released_at = now
    session.flush()
    return previous


def follow_company_merge(source, *, session: Session, target) -> int:
    """``companies_merging``: a partner account on the entry folded away moves to the one
    kept, and so does the basis of its feedback row, so that the next feedback release
    compares the row (the merged entry's ratings now in it) with what the company last
    read, instead of starting it afresh."""
    old = f"{FEEDBACK_SCOPE}/ratings/{source.id}"
    new = f"{FEEDBACK_SCOPE}/ratings/{target.id}"

    def of(cell: str):
        return or_(CompanyPart.cell == cell, CompanyPart.cell.startswith(f"{cell}:"))

    session.execute(delete(CompanyPart).where(of(new)))  # an entry no company reads
    for part in session.scalars(select(CompanyPart).where(of(old))):
        part.cell = new + part.cell[len(old) :]
    session.flush()
    return 0


def detach_member(session: Session, user_id: int) -> None:
    """An erased account's parts keep their place under a stand-in that names no one."""
    groups = set(session.scalars(select(CompanyPart.group_id).where(CompanyPart.member == user_id)))
    for group_id in sorted(groups):
        stand_in = -(secrets.randbelow(2**31 - 2) + 1)
        session.execute(
            update(CompanyPart)
            .where(CompanyPart.group_id == group_id, CompanyPart.member == user_id)
            .values(member=stand_in)
        )
