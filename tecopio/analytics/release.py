"""The one place that decides which numbers may leave the database: k-anonymity.

The promise, as enforced: no released number, and no sum or difference of
released numbers a person can see — across the figures of a page (a row and
its children, a total and its rows, figures that add up to the same number),
across the pages of a filter and the whole page (all released together), and
between releases — determines a quantity resting on 1 to k−1 members.
Between releases (``changes.py``): a new release comes only once k members
have changed each kind of data that changed (``cache.py``); each number of a
row is compared with the last release that showed the row, and a row one of
whose numbers moved for 1 to k−1 members since then is hidden (``CHANGED``;
a share moves with what it divides by); what subtraction recovers of hidden
rows is compared with the previous release, and must have moved for no
member or for k or more; a row hidden beside fewer than k members stays
hidden while they do (``_reopens_a_hidden_sum``); a row the previous
release showed, unmoved since, is known, so it is never chosen as a
complement and protects no hidden row (``known_from_before``); counts whose
difference from the previous release would tell of 1 to k−1 members (a
row's members against its population's, items against members) are
withheld (``queries._withhold_moved_counts``). Tested by an attacker who
solves every equation with one unknown (``tests/test_analytics_attacker.py``,
``test_analytics_release.py``) and by sequences of releases judged by an
oracle of their own (``tests/test_analytics_changes.py``). Member counts of
rows a member can fall in several of are not additive; where 1 to k−1
members fall in more than one row (or page), those counts are withheld
(``queries.overlapping_figures``). What it does not cover: members who
collude or are fake (k−1 accounts of one person); intersections of two
different filters (a region and a year), which are never shown together;
changes that cancel out over three or more releases (members undoing in one
release what they did in an earlier one), and sums of hidden rows compared
with releases before the previous one.

A figure is a ``Table`` of ``Row``s. Every row carries the number of distinct
members behind it, and all of its numbers rest on those members, so rows are
released or suppressed whole. Rows may have children that add up to them
(a category and its sub-categories), and a table may have a total that its
top rows add up to.

1. Primary suppression: a row resting on fewer than k members is suppressed.
2. Complementary suppression: where siblings add up to a parent whose value
   is known (released, or recoverable together with its hidden siblings),
   subtracting the released siblings recovers the sum of the hidden ones. So
   whenever the hidden siblings each rest on fewer than k members, the
   smallest released sibling (which rests on k or more) is suppressed too;
   what subtraction then recovers is a sum resting on at least k members.
   A row suppressed this way may have children that would add back up to it,
   so one of them is suppressed too and the same rule runs again among those
   children, down to the leaves.
   When every sibling is hidden, they rest together on the parent's members,
   which are k or more: nothing more is needed.
   A hidden row whose children add it back up, none of them hidden or ever to
   be (worked out elsewhere, known from the previous release), is known: it
   protects none of its siblings (``recovered``).
3. "Total = sum of its rows" is an equation whether or not the total is
   released and however many rows it has: a hidden total whose rows are all
   released takes one of them with it. A lone row hidden to protect another
   figure (a complement) is never left recoverable from its siblings.
"""

from dataclasses import dataclass, field
from enum import StrEnum


class Suppressed(StrEnum):
    TOO_FEW = "too_few"  # fewer than k members
    COMPLEMENT = "complement"  # would let a suppressed row be recovered by subtraction
    # Moved, since it was last released, by the changes of 1 to k−1 members.
    CHANGED = "changed"


# The numbers of a row that add up over rows (a sum of rows tells the sum of each).
ADDITIVE = ("members", "intents", "count", "preferences", "quantity", "weight")


def net_changes(rows) -> set:
    """The members whose part in the sum of ``rows`` moved since the previous release."""
    total: dict = {}
    for row in rows:
        for member, delta in row.deltas.items():
            into = total.setdefault(member, {})
            for name, value in delta.items():
                into[name] = into.get(name, 0) + value
    return {member for member, delta in total.items() if any(delta.values())}


def moved_for_too_few(rows, k: int) -> bool:
    """Whether the sum of ``rows`` moved, since the previous release, for 1 to k−1 members."""
    return 0 < len(net_changes(rows)) < k


@dataclass
class Row:
    key: str
    label: str
    members: int
    values: dict = field(default_factory=dict)
    children: list["Row"] = field(default_factory=list)
    suppressed: Suppressed | None = None
    # Worked out from other figures anyway (a filter's pages with the whole page): never
    # chosen to be hidden as a complement, since hiding it would protect nothing.
    pinned: bool = False
    # How many members' part in the row differs from when it was last released
    # (``changes.py``), and by how much each member's additive numbers moved since the
    # previous release (member -> {number: change}), for sums of rows.
    changed: int = 0
    deltas: dict = field(default_factory=dict)
    # Whether the previous release showed the row (None: no release to compare with),
    # and how many members it rested on then.
    shown_before: bool | None = None
    members_before: int = 0

    @property
    def released(self) -> bool:
        return self.suppressed is None

    def value(self, name):
        """A released number, or None where the row is suppressed."""
        return None if self.suppressed else self.values.get(name)


@dataclass
class Table:
    name: str
    rows: list[Row]
    total: Row | None = None  # the rows add up to it (for additive measures)
    # True where the rows' additive measures sum to a number released elsewhere
    # (e.g. monthly counts whose sum is a total shown in another figure).
    sums_released_elsewhere: bool = False
    # False where the total is what the rows add up to but no figure shows it (segments).
    total_shown: bool = True
    # Segments: the row each member fell in (member -> row key, None: no row), never stored.
    assignment: dict | None = field(default=None, repr=False)

    def all_rows(self):
        stack = list(self.rows)
        while stack:
            row = stack.pop()
            yield row
            stack.extend(row.children)


def release(table: Table, k: int) -> Table:
    """Suppress every row that could reveal fewer than k members; returns the same table."""
    if k < 1:
        raise ValueError("k must be positive")
    for row in [*table.all_rows(), *([table.total] if table.total else [])]:
        if row.members < k:
            row.suppressed = Suppressed.TOO_FEW
        elif 0 < row.changed < k and row.suppressed is None:
            row.suppressed = Suppressed.CHANGED
    changed = True
    while changed:
        changed = False
        if table.total is not None:
            # "total = sum of its rows" holds whether or not the total is released,
            # however many rows there are: a hidden total is not added back up.
            if table.total.members >= k:
                changed |= _protect_siblings(table.rows, k, parent=table.total)
        elif table.sums_released_elsewhere:
            changed |= _protect_siblings(table.rows, k)
        for parent in list(table.all_rows()):
            if parent.children and parent.members >= k:
                changed |= _protect_siblings(parent.children, k, parent=parent)
    return table


def _protect_siblings(siblings: list[Row], k: int, *, parent: Row | None = None) -> bool:
    """One round of complementary suppression among rows that add up to a known value.

    A hidden parent whose children are all released could be added back up
    from them, so one of its children is hidden too. A lone complement with
    no released sibling to hide instead takes its released parent with it.
    What subtraction recovers of the hidden rows must also not have moved,
    since the previous release, for 1 to k−1 members; a row hidden because it
    moved for too few members (``CHANGED``) protects no other row.
    """
    parent_hidden = parent is not None and not parent.released
    if _reopens_a_hidden_sum(siblings, k, parent):
        return True
    # Rows with no members at all (shown so that their absence says nothing) reveal nobody,
    # and a row the previous release showed, unmoved since, hides nothing: it is known.
    hidden = [
        row
        for row in siblings
        if not row.released
        and row.members > 0
        and not known_from_before(row)
        and not recovered(row)
    ]
    # A hidden row its last members left since the previous release rests on nobody now,
    # yet their leaving is part of what the hidden rows' sum did.
    emptied = [row for row in siblings if not row.released and row.members == 0 and row.deltas]
    # One hidden row hidden to protect another figure (a page of a filter) would be
    # recovered exactly by subtraction, however many members it rests on.
    lone_complement = (
        len(hidden) == 1 and hidden[0].suppressed == Suppressed.COMPLEMENT and not parent_hidden
    )
    protected = (
        any(row.members >= k and row.suppressed != Suppressed.CHANGED for row in hidden)
        and not lone_complement
    )
    # The sum of the hidden rows is known where the parent is (or where no parent is
    # given: the sum is released elsewhere).
    moved = not parent_hidden and moved_for_too_few([*hidden, *emptied], k)
    if protected and not moved:
        return False
    if not hidden and not parent_hidden and not moved:
        return False
    candidates = sorted(
        (row for row in siblings if row.released and not row.pinned and not known_from_before(row)),
        key=lambda r: (r.members, r.key),
    )
    if moved:  # the sum's movement needs covering: by a row whose own move covers it
        covering = [row for row in candidates if not moved_for_too_few([*hidden, *emptied, row], k)]
        candidates = covering or candidates
    if not candidates:
        # Nothing left to hide beside them, yet the parent minus what is shown (rows
        # worked out elsewhere, or nothing: a lone child) tells them: the parent goes.
        # (When every sibling is hidden they rest on the parent's k members: enough.)
        exposed = lone_complement or moved or any(_told(row) for row in siblings)
        if exposed and parent is not None and parent.released and not parent.pinned:
            parent.suppressed = Suppressed.COMPLEMENT
            return True
        return False
    candidates[0].suppressed = Suppressed.COMPLEMENT
    return True


def known_from_before(row: Row) -> bool:
    """Shown by the previous release and moved for no member since: hiding it now as a
    complement would protect nothing, since that release told its value."""
    return bool(row.shown_before) and row.changed == 0 and row.members > 0


def recovered(row: Row) -> bool:
    """Hidden, yet added back up from its children: every one of them is told and stays so.

    A row (a complement, typically) whose children were all worked out elsewhere
    (``pinned``) or known from the previous release is hidden for nothing: its value is
    their sum. It counts as known beside its siblings, or a small row next to it would be
    given back by subtraction (the total minus this row and the others shown). Only
    children that can no longer be hidden count: a released child that complementary
    suppression may still hide does not make its parent known.
    """
    return not row.released and bool(row.children) and all(_settled(c) for c in row.children)


def _settled(row: Row) -> bool:
    """Told now and for good: released and never to be hidden (worked out elsewhere, or
    known from the previous release), recovered, or hidden beside nobody (no members)."""
    if row.released:
        return row.pinned or known_from_before(row)
    return row.members == 0 or known_from_before(row) or recovered(row)


def _told(row: Row) -> bool:
    """Released, or hidden but recovered from its children."""
    return row.released or recovered(row)


def _reopens_a_hidden_sum(siblings: list[Row], k: int, parent: Row | None) -> bool:
    """Keep hidden a row the previous release hid beside too few members.

    Where the previous release hid some of these rows and their sum was known
    (the parent was shown, or the sum is released elsewhere), showing one of
    them now tells, with that old sum, what the rows still hidden held then
    (the complement changing from one release to the next). So a row comes
    back only if the rows hidden with it then, and still hidden, rested on
    k members or more.
    """
    if parent is not None and not parent.shown_before:
        return False
    hidden_then = [row for row in siblings if row.shown_before is False and row.members_before > 0]
    back = sorted((row for row in hidden_then if row.released), key=lambda r: (r.members, r.key))
    still = [row for row in hidden_then if not row.released]
    if not back or not 0 < sum(row.members_before for row in still) < k:
        return False
    back[0].suppressed = Suppressed.COMPLEMENT
    return True
