"""Which commitments count, and how far a deal is from tipping and from its next tier.

Pure functions over plain numbers. A commitment made "only if at least N
members commit" (a price tier) counts once N members count, itself
included: the largest set of such commitments that holds itself up is
counted. Taking them by their N, lowest first, the first i of them hold
together when the unconditional ones plus i reach the i-th N; the largest
such i is the answer (any set of m that holds has its largest N at least the
m-th lowest, so the first m hold too).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Pledge:
    key: int
    quantity: int
    max_quantity: int | None = None
    min_members: int | None = None  # counts only if this many members count


@dataclass(frozen=True)
class Count:
    members: int
    quantity: int
    up_to: int  # the quantity if every counted member took their maximum
    keys: frozenset  # the pledges counted


def counted(pledges: list[Pledge]) -> Count:
    plain = [p for p in pledges if p.min_members is None]
    conditional = sorted(
        (p for p in pledges if p.min_members is not None), key=lambda p: (p.min_members, p.key)
    )
    held = 0
    for i, pledge in enumerate(conditional, start=1):
        if len(plain) + i >= pledge.min_members:
            held = i
    chosen = [*plain, *conditional[:held]]
    return Count(
        members=len(chosen),
        quantity=sum(p.quantity for p in chosen),
        up_to=sum(max(p.quantity, p.max_quantity or 0) for p in chosen),
        keys=frozenset(p.key for p in chosen),
    )


def tier_reached(tiers: list[int], members: int) -> int | None:
    """The index of the highest tier ``members`` reach (None: only the tipping price)."""
    reached = [i for i, needed in enumerate(tiers) if members >= needed]
    return reached[-1] if reached else None


@dataclass(frozen=True)
class Standing:
    members: int
    to_tip: int  # more members counted for the deal to tip (0: tipped)
    next_tier: int | None  # the index of the next tier not reached
    to_next_tier: int  # more members counted to reach it


def standing(count: Count, tipping_point: int, tiers: list[int]) -> Standing:
    upcoming = [i for i, needed in enumerate(tiers) if count.members < needed]
    next_tier = upcoming[0] if upcoming else None
    return Standing(
        members=count.members,
        to_tip=max(tipping_point - count.members, 0),
        next_tier=next_tier,
        to_next_tier=tiers[next_tier] - count.members if next_tier is not None else 0,
    )
