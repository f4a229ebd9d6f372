"""Bids side by side: each criterion on 0-100, weighted by the offer, and how robust the
winner is to the weights.

Pure functions over plain values, in exact fractions (no rounding until shown):
the same bids and weights always rank the same way.
"""

from dataclasses import dataclass
from fractions import Fraction

from tecopio.demand.models import PriceBasis

FULL_DISCOUNT = 10_000  # basis points
# Criteria a bid's own numbers score; the others the group's admins score by hand.
COMPUTED = ("price", "warranty")
NUDGES = (Fraction(9, 10), Fraction(11, 10))  # a weight moved by -10 % and by +10 %


@dataclass(frozen=True)
class BidFacts:
    """What scoring needs of one standing bid."""

    key: int  # the bid's id
    price: int  # in the offer's basis
    warranty_months: int
    manual: dict[str, int]  # criterion -> admins' score, where they gave one


@dataclass(frozen=True)
class Ranked:
    key: int
    scores: dict[str, Fraction | None]  # None: not scored yet (counts as 0)
    total: Fraction


@dataclass(frozen=True)
class Nudge:
    criterion: str
    factor: Fraction
    winner: int | None  # who would win instead (None: a tie)


def _price_scores(bids: list[BidFacts], basis: PriceBasis) -> dict[int, Fraction]:
    """Lowest price ÷ this price × 100; a discount counts by what is left to pay."""
    paid = {
        bid.key: (FULL_DISCOUNT - bid.price if basis == PriceBasis.DISCOUNT else bid.price)
        for bid in bids
    }
    lowest = min(paid.values())
    return {
        key: Fraction(100) if amount == lowest else Fraction(100 * lowest, amount)
        for key, amount in paid.items()
    }


def _warranty_scores(bids: list[BidFacts]) -> dict[int, Fraction]:
    """This warranty ÷ the longest × 100 (no warranty anywhere: 0 for all)."""
    longest = max(bid.warranty_months for bid in bids)
    return {
        bid.key: Fraction(100 * bid.warranty_months, longest) if longest else Fraction(0)
        for bid in bids
    }


def criterion_scores(
    bids: list[BidFacts], criteria: list[str], basis: PriceBasis
) -> dict[int, dict[str, Fraction | None]]:
    if not bids:
        return {}
    price = _price_scores(bids, basis)
    warranty = _warranty_scores(bids)
    found: dict[int, dict[str, Fraction | None]] = {}
    for bid in bids:
        row: dict[str, Fraction | None] = {}
        for criterion in criteria:
            if criterion == "price":
                row[criterion] = price[bid.key]
            elif criterion == "warranty":
                row[criterion] = warranty[bid.key]
            else:
                given = bid.manual.get(criterion)
                row[criterion] = None if given is None else Fraction(given)
        found[bid.key] = row
    return found


def _total(row: dict[str, Fraction | None], weights: dict[str, Fraction]) -> Fraction:
    weight_sum = sum(weights.values())
    if not weight_sum:
        return Fraction(0)
    return sum(((row.get(c) or 0) * w for c, w in weights.items()), Fraction(0)) / weight_sum


def _winner(totals: dict[int, Fraction]) -> int | None:
    """The highest total, or None when two or more share it (or there is no bid)."""
    if not totals:
        return None
    best = max(totals.values())
    leaders = [key for key, total in totals.items() if total == best]
    return leaders[0] if len(leaders) == 1 else None


def rank(
    bids: list[BidFacts], weights: dict[str, int], basis: PriceBasis
) -> tuple[list[Ranked], int | None, list[Nudge]]:
    """Bids best first, the winner (None on a tie), and each ±10 % weight change that
    would change the winner."""
    weighted = {c: Fraction(w) for c, w in weights.items() if w > 0}
    scores = criterion_scores(bids, list(weighted), basis)
    totals = {key: _total(row, weighted) for key, row in scores.items()}
    winner = _winner(totals)
    nudges = []
    for criterion in weighted:
        for factor in NUDGES:
            moved = {**weighted, criterion: weighted[criterion] * factor}
            other = _winner({key: _total(row, moved) for key, row in scores.items()})
            if other != winner:
                nudges.append(Nudge(criterion, factor, other))
    ranked = sorted(
        (Ranked(key, scores[key], totals[key]) for key in scores),
        key=lambda r: (-r.total, r.key),
    )
    return ranked, winner, nudges
