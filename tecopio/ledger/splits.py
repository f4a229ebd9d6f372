"""Exact splits: shares that always add up to the amount, by the largest remainder.

Each weight ``w`` of a total ``W`` first gets ``floor(amount × w / W)``; the
cents left over (fewer than the number of shares) go one each to the largest
remainders ``amount × w mod W``, ties to the lowest key. The same rule is
written once more in SQL (``sharing.py``), for groups too large to split in
Python; a property test holds the two to the same answers.
"""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Share:
    key: int
    weight: int
    amount: int
    extra_cent: bool  # one of the cents left over by the floor


def split(amount: int, weights: Sequence[tuple[int, int]]) -> list[Share]:
    """``weights`` as (key, weight) with distinct keys; shares in the same order.

    Amount and weights are non-negative integers. With no weight at all,
    nobody gets anything (the caller decides where the amount goes).
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ValueError("the amount must be a non-negative integer")
    if any(not isinstance(w, int) or isinstance(w, bool) or w < 0 for _key, w in weights):
        raise ValueError("weights must be non-negative integers")
    total = sum(w for _key, w in weights)
    if total == 0:
        return [Share(key, w, 0, False) for key, w in weights]
    floors = [(key, w, amount * w // total, amount * w % total) for key, w in weights]
    left = amount - sum(base for _key, _w, base, _rem in floors)
    lucky = {
        key for key, _w, _base, _rem in sorted(floors, key=lambda row: (-row[3], row[0]))[:left]
    }
    return [Share(key, w, base + (key in lucky), key in lucky) for key, w, base, _rem in floors]


def percent_of(amount: int, percent: int) -> int:
    """The whole minor units of ``percent`` % of ``amount`` (rounded down)."""
    return amount * percent // 100


def basis_points_of(amount: int, basis_points: int) -> int:
    return amount * basis_points // 10_000
