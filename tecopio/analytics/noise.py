"""Calibrated noise for released counts: the discrete Laplace mechanism, sampled exactly.

Sampling a Laplace variable with floating-point arithmetic and rounding it
leaks (the low bits of a float reveal the true value), so this follows
Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential
Privacy" (2020), Algorithms 1 and 2: only integers and fractions, with
randomness from the operating system's cryptographic source (``secrets``).
For a count (sensitivity 1) and privacy parameter epsilon the scale is
1/epsilon.
"""

import secrets
from fractions import Fraction


def _bernoulli(p: Fraction) -> bool:
    return secrets.randbelow(p.denominator) < p.numerator


def _bernoulli_exp(gamma: Fraction) -> bool:
    """True with probability exp(-gamma), for gamma >= 0."""
    while gamma > 1:
        if not _bernoulli_exp(Fraction(1)):
            return False
        gamma -= 1
    k = 1
    while _bernoulli(gamma / k):
        k += 1
    return k % 2 == 1


def _geometric_exp(x: Fraction) -> int:
    """P(value = n) proportional to exp(-x n), n >= 0."""
    s, t = x.numerator, x.denominator
    if s == 0:
        return 0
    while True:
        u = secrets.randbelow(t)
        if _bernoulli_exp(Fraction(u, t)):
            break
    v = 0
    while _bernoulli_exp(Fraction(1)):
        v += 1
    return (v * t + u) // s


def discrete_laplace(epsilon: Fraction) -> int:
    """An integer with P(n) proportional to exp(-epsilon |n|)."""
    if epsilon <= 0:
        raise ValueError("epsilon must be positive")
    while True:
        negative = secrets.randbelow(2) == 1
        magnitude = _geometric_exp(epsilon)
        if negative and magnitude == 0:
            continue
        return -magnitude if negative else magnitude


# Numbers that depend on how many items one member has, or on their values: with no
# bound on that, noise cannot be calibrated for them, so they are withheld.
WITHHELD_WITH_NOISE = (
    "intents",
    "count",
    "preferences",
    "quantity",
    "budget_p25",
    "budget_median",
    "budget_p75",
    "weight",
    "share",
    "average",
    "nps",
    "comments",
)


def add_noise(tables, epsilon: Fraction) -> int:
    """Noise on every released count of members, every other number withheld.

    One member changes a count of members by at most one (sensitivity 1), so
    each count with discrete Laplace noise of scale 1/epsilon is
    epsilon-differentially private; a member can be in many counts, so the
    privacy spent is epsilon times the number of noisy counts (sequential
    composition, an upper bound). Returns that number.
    """
    noisy = 0
    for table in tables:
        for row in [*table.all_rows(), *([table.total] if table.total else [])]:
            if not row.released:
                continue
            for key in WITHHELD_WITH_NOISE:
                if key in row.values:
                    row.values[key] = None
            if isinstance(row.values.get("members"), int):
                row.values["members"] = max(0, row.values["members"] + discrete_laplace(epsilon))
                noisy += 1
    return noisy
