"""Segments: members grouped by similar preference profiles, with k-means.

A member's profile is the share of their preference weight (importance) in
each top-level category and on each value. Profiles are clustered with
k-means (k-means++ start from a fixed seed, members in id order), so the same
data always gives the same segments. Each segment is described by its
dominant categories and values, and is released like any other figure: only
if it rests on at least k members. The segments add up to the members with
preferences on the page (the table's total, never shown itself), so that
number takes part in the release of a filter's pages like any other
(``queries._release_together``). Rows keep category slugs and value codes;
labels are given when the page is shown.
"""

import numpy as np
from sqlalchemy import String, case, cast, func, select
from sqlalchemy.orm import Session

from tecopio.analytics.release import Row, Table
from tecopio.analytics.source import consented
from tecopio.categories.services import CategoryTree
from tecopio.memberdata.models import Preference
from tecopio.memberdata.vocab import VALUES

MAX_SEGMENTS = 4
SEED = 20261122
ITERATIONS = 60


def _profiles(session: Session, group_id: int, split, tree: CategoryTree):
    """Per bucket, one row per member: preference weight per top category and per value.

    One statement for every bucket; members in id order within each.
    """
    s = consented(
        Preference, group_id, split, "user_id", "root_id", "importance", "values"
    ).subquery()
    values_text = cast(s.c["values"], String)
    roots = [root.id for root in tree.roots]
    codes = list(VALUES)
    columns = [func.sum(case((s.c.root_id == root, s.c.importance), else_=0)) for root in roots] + [
        func.sum(case((values_text.contains(f'"{code}"'), s.c.importance), else_=0))
        for code in codes
    ]
    rows = session.execute(
        select(s.c.bucket, s.c.user_id, *columns)
        .group_by(s.c.bucket, s.c.user_id)
        .order_by(s.c.bucket, s.c.user_id)
    ).all()
    by_bucket: dict = {}
    members: dict = {}
    for row in rows:
        by_bucket.setdefault(row[0], []).append(row[2:])
        members.setdefault(row[0], []).append(row[1])
    matrices = {
        bucket: np.array(found, dtype=float).reshape(len(found), len(columns))
        for bucket, found in by_bucket.items()
    }
    return roots, codes, matrices, members


def _squared_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """|p - c|² for every point and centre, as |p|² - 2 p·c + |c|², without a 3-D array."""
    squared = (
        (points**2).sum(axis=1)[:, None] - 2 * points @ centres.T + (centres**2).sum(axis=1)[None]
    )
    return np.maximum(squared, 0)


def _kmeans(points: np.ndarray, clusters: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, clusters):
        distance = _squared_distances(points, np.array(centres)).min(axis=1)
        total = distance.sum()
        if total == 0:
            break
        centres.append(points[rng.choice(len(points), p=distance / total)])
    centres = np.array(centres)
    labels = np.zeros(len(points), dtype=int)
    for _ in range(ITERATIONS):
        distance = _squared_distances(points, centres)
        new_labels = distance.argmin(axis=1)
        if np.array_equal(new_labels, labels) and _ > 0:
            break
        labels = new_labels
        centres = np.array(
            [
                points[labels == c].mean(axis=0) if np.any(labels == c) else centres[c]
                for c in range(len(centres))
            ]
        )
    return labels


def segments_tables(session: Session, group_id: int, split, tree: CategoryTree, k: int) -> dict:
    """Segments per bucket of ``split`` (each page's members clustered on their own).

    Each table's ``assignment`` tells which row each member fell in (None:
    too few members for any segment), for comparing releases (``changes.py``).
    """
    roots, codes, matrices, members = _profiles(session, group_id, split, tree)
    return {
        bucket: _segments(matrix, members[bucket], roots, codes, tree, k)
        for bucket, matrix in matrices.items()
    }


def _segments(matrix, member_ids, roots, codes, tree: CategoryTree, k: int) -> Table:
    members = len(matrix)
    clusters = min(MAX_SEGMENTS, members // max(k, 1))
    population = Row(key="population", label="", members=members, values={"members": members})
    if clusters < 1:
        return Table(
            "segments",
            [],
            total=population,
            total_shown=False,
            assignment=dict.fromkeys(member_ids),
        )
    category_part, value_part = matrix[:, : len(roots)], matrix[:, len(roots) :]
    totals = category_part.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1
    profiles = np.hstack([category_part / totals, value_part / totals])
    labels = _kmeans(profiles, clusters)
    rows = []
    keys = {}
    for number, segment in enumerate(
        sorted(set(labels.tolist()), key=lambda c: (-(labels == c).sum(), c))
    ):
        keys[segment] = f"segment-{number + 1}"
        inside = profiles[labels == segment]
        centre = inside.mean(axis=0)
        top_roots = [
            roots[i] for i in np.argsort(-centre[: len(roots)], kind="stable")[:2] if centre[i] > 0
        ]
        top_values = [
            codes[i]
            for i in np.argsort(-centre[len(roots) :], kind="stable")[:3]
            if centre[len(roots) + i] > 0
        ]
        size = int(len(inside))
        rows.append(
            Row(
                key=keys[segment],
                label=str(number + 1),
                members=size,
                values={
                    "members": size,
                    "share": round(100 * size / members),
                    "categories": [tree.by_id[r].slug for r in top_roots],
                    "values": top_values,
                },
            )
        )
    assignment = {
        member: keys[int(label)] for member, label in zip(member_ids, labels, strict=True)
    }
    return Table("segments", rows, total=population, total_shown=False, assignment=assignment)
