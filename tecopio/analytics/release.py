"""The one place that decides which numbers may leave the database: k-anonymity.

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
"""

from dataclasses import dataclass, field
from enum import StrEnum


class Suppressed(StrEnum):
    TOO_FEW = "too_few"  # fewer than k members
    COMPLEMENT = "complement"  # would let a suppressed row be recovered by subtraction


@dataclass
class Row:
    key: str
    label: str
    members: int
    values: dict = field(default_factory=dict)
    children: list["Row"] = field(default_factory=list)
    suppressed: Suppressed | None = None

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
    changed = True
    while changed:
        changed = False
        if table.total is not None:
            # "total = sum of its rows" holds whether or not the total is released,
            # however many rows there are: a hidden total is not added back up.
            if table.total.members >= k:
                changed |= _protect_siblings(table.rows, k, parent_hidden=not table.total.released)
        elif table.sums_released_elsewhere:
            changed |= _protect_siblings(table.rows, k)
        for parent in table.all_rows():
            if parent.children and parent.members >= k:
                changed |= _protect_siblings(parent.children, k, parent_hidden=not parent.released)
    return table


def _protect_siblings(siblings: list[Row], k: int, *, parent_hidden: bool = False) -> bool:
    """One round of complementary suppression among rows that add up to a known value.

    A hidden parent whose children are all released could be added back up
    from them, so one of its children is hidden too.
    """
    # Rows with no members at all (shown so that their absence says nothing) reveal nobody.
    hidden = [row for row in siblings if not row.released and row.members > 0]
    # One hidden row hidden to protect another figure (a page of a filter) would be
    # recovered exactly by subtraction, however many members it rests on.
    lone_complement = len(hidden) == 1 and hidden[0].suppressed == Suppressed.COMPLEMENT
    if any(row.members >= k for row in hidden) and not lone_complement:
        return False
    if not hidden and not parent_hidden:
        return False
    candidates = sorted((row for row in siblings if row.released), key=lambda r: (r.members, r.key))
    if not candidates:
        return False
    candidates[0].suppressed = Suppressed.COMPLEMENT
    return True
