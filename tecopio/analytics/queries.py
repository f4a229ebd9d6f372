"""The aggregate SQL behind each figure, starting from what members consented to share.

Each ``*_table`` function returns an unreleased ``Table`` built from a fixed
number of statements, whatever the size of the group; ``group_figures`` runs
them all and releases every table with the group's k (``release.py``).
"""

from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from fractions import Fraction

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Integer,
    case,
    cast,
    distinct,
    extract,
    false,
    func,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from tecopio.analytics.noise import add_noise
from tecopio.analytics.release import (
    Row,
    Suppressed,
    Table,
    moved_for_too_few,
    recovered,
    release,
)
from tecopio.analytics.segments import segments_tables
from tecopio.analytics.source import (
    WHOLE_BUCKET,
    Filters,
    Split,
    allowed_roots,
    consented,
    dialect,
    gathered,
    links_of,
    month_of,
    offered_split,
    shared_regions,
)
from tecopio.categories.services import CategoryTree
from tecopio.directory.models import Company
from tecopio.governance.charters import current_charter
from tecopio.groups.models import Group
from tecopio.memberdata.models import (
    Feedback,
    Intent,
    IntentStatus,
    Preference,
    PreferenceCompany,
)
from tecopio.memberdata.vocab import VALUES

# Budget bands are given in one currency; intents in others count everywhere else.
BUDGET_CURRENCY = "EUR"
LIVE_INTENTS = (IntentStatus.OPEN, IntentStatus.COMMITTED)
QUARTILES = (0.25, 0.5, 0.75)
# Lists of companies show the ones most members name; the rest are simply not released.
TOP_ROWS = 30


@dataclass
class Figures:
    k: int
    demand: Table
    windows: Table
    preference_roots: Table
    preference_values: Table
    brands: Table
    ratings: Table
    segments: Table
    trends: dict[str, Table] = field(default_factory=dict)
    noise_epsilon: Fraction | None = None  # set when calibrated noise was added
    computed_at: datetime | None = None
    # (key, name) of the regions the release offers as a filter (on the whole page).
    regions: list = field(default_factory=list)
    # Figures whose members overlap from page to page of the filter (withheld on its pages).
    overlapping_pages: set = field(default_factory=set)

    def by_name(self, name: str) -> Table:
        return self.trends.get(name) or getattr(self, name)

    def tables(self) -> list[Table]:
        """Every figure of the page."""
        return [
            self.demand,
            self.windows,
            self.preference_roots,
            self.preference_values,
            self.brands,
            self.ratings,
            self.segments,
            *self.trends.values(),
        ]

    def comparable(self) -> list[Table]:
        """Tables whose rows mean the same on every page of a filter, in a fixed order.

        Segments differ from page to page, but they add up to the members with
        preferences on the page, which does mean the same: it takes part
        through a table holding only that total (the same ``Row`` object).
        """
        return [
            *(table for table in self.tables() if table is not self.segments),
            Table("segments-population", [], total=self.segments.total),
        ]


# Every ``*_tables`` function below returns one unreleased table per bucket of its
# ``Split`` (see source.py): the whole page alone, or every page of one filter at once.


def _by_bucket(rows) -> dict:
    """Rows whose first column is the bucket, grouped by it (the bucket column removed)."""
    grouped: dict = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped


# --- demand -----------------------------------------------------------------------


def _live(statement):
    """Intents still wanted (open, or committed to a deal), as a subquery."""
    rows = statement.subquery()
    live = [status.value for status in LIVE_INTENTS]
    return select(rows).where(rows.c.status.in_(live)).subquery()


def _demand_measures(s):
    return (
        func.count(distinct(s.c.user_id)).label("members"),
        func.count().label("intents"),
        func.sum(s.c.quantity).label("quantity"),
        func.min(s.c.unit).label("unit_min"),
        func.max(s.c.unit).label("unit_max"),
    )


def round_to_band(value: Fraction) -> int:
    """A budget in minor units rounded to two significant digits (1,234.56 € → 1,200 €).

    An interpolated quartile can still fall on one member's own midpoint;
    rounded to its band it no longer tells that member's figure.
    """
    whole = round(value)
    if whole < 100:
        return whole
    step = 10 ** (len(str(whole)) - 2)
    return (whole + step // 2) // step * step


def quartile_positions(members: int, p: float) -> tuple[int, int, Fraction]:
    """The 1-based ranks a quartile is interpolated between, and the weight of the upper one.

    Linear interpolation at p·(n−1), as PostgreSQL's percentile_cont does.
    """
    position = Fraction(p).limit_denominator(4) * (members - 1)
    lower = position.numerator // position.denominator
    return lower + 1, lower + 1 + (position != lower), position - lower


def _quartiles(session: Session, s, key, k: int, banded: bool = True) -> dict:
    """Quartiles of members' budgets per bucket and ``key`` (None: per bucket), banded.

    Each member counts once, with the mean midpoint of their budget ranges in
    the budget currency. A quartile is interpolated between two members'
    midpoints and rounded to its band (``round_to_band``), so it is no one
    member's figure; it is released only where at least k members lie on each
    side of it (at or below, at or above), so that it rests on k members
    either way. Exact in integers and fractions on both databases. Keys are
    (bucket, key).
    """
    mid = (s.c.budget_min + s.c.budget_max) // 2
    key_columns = [key.label("key")] if key is not None else []
    per_member = (
        select(s.c.bucket, *key_columns, s.c.user_id, (func.sum(mid) // func.count()).label("mid"))
        .where(s.c.currency == BUDGET_CURRENCY)
        .group_by(s.c.bucket, *([key] if key is not None else []), s.c.user_id)
        .subquery()
    )
    keys = [per_member.c.bucket, *([per_member.c.key] if key is not None else [])]

    def group_key(row):
        return (row[0], row[1] if key is not None else None)

    rank = func.row_number().over(partition_by=keys, order_by=per_member.c.mid).label("rank")
    count = func.count().over(partition_by=keys).label("n")
    ranked = select(*keys, per_member.c.mid, rank, count).subquery()
    n = ranked.c.n
    # The ranks either side of p·(n−1) for p = 1/4, 1/2, 3/4 (1-based, integer division).
    wanted = false()
    for numerator in (1, 2, 3):
        wanted |= ranked.c.rank == numerator * (n - 1) // 4 + 1
        wanted |= ranked.c.rank == (numerator * (n - 1) + 3) // 4 + 1
    ranked_keys = [ranked.c.bucket, *([ranked.c.key] if key is not None else [])]
    by_rank: dict = {}
    sizes: dict = {}
    statement = select(*ranked_keys, ranked.c.mid, ranked.c.rank, n).where(wanted)
    for row in session.execute(statement):
        found_key = group_key(row)
        value, rank_value, size = row[-3], row[-2], row[-1]
        sizes[found_key] = size
        by_rank.setdefault(found_key, {})[rank_value] = value
    found = {}
    for found_key, size in sizes.items():
        quartiles = []
        for p in QUARTILES:
            lower, upper, weight = quartile_positions(size, p)
            # Members at or below the value, and at or above it.
            if lower < k or size - upper + 1 < k:
                quartiles.append(None)
                continue
            values = by_rank[found_key]
            exact = values[lower] + weight * (values[upper] - values[lower])
            quartiles.append(round_to_band(exact) if banded else exact)
        found[found_key] = tuple(quartiles)
    return found


def _demand_values(row, quartiles) -> dict:
    single_unit = row.unit_min if row.unit_min == row.unit_max else None
    p25, p50, p75 = quartiles or (None, None, None)
    return {
        "members": row.members,
        "intents": row.intents,
        "quantity": row.quantity if single_unit else None,
        "unit": single_unit,
        "budget_p25": p25,
        "budget_median": p50,
        "budget_p75": p75,
    }


def demand_tables(
    session: Session,
    group_id: int,
    split: Split,
    tree: CategoryTree,
    locale: str,
    k: int,
    banded: bool = True,
) -> dict:
    s = _live(
        consented(
            Intent,
            group_id,
            split,
            "user_id",
            "category_id",
            "root_id",
            "quantity",
            "unit",
            "budget_min",
            "budget_max",
            "currency",
            "status",
        )
    )
    leaves = _by_bucket(
        session.execute(
            select(s.c.bucket, s.c.category_id, *_demand_measures(s)).group_by(
                s.c.bucket, s.c.category_id
            )
        )
    )
    roots = _by_bucket(
        session.execute(
            select(s.c.bucket, s.c.root_id, *_demand_measures(s)).group_by(s.c.bucket, s.c.root_id)
        )
    )
    totals = _by_bucket(
        session.execute(select(s.c.bucket, *_demand_measures(s)).group_by(s.c.bucket))
    )
    leaf_q = _quartiles(session, s, s.c.category_id, k, banded)
    root_q = _quartiles(session, s, s.c.root_id, k, banded)
    total_q = _quartiles(session, s, None, k, banded)

    tables = {}
    for bucket, (total,) in totals.items():
        children: dict[int, list[Row]] = {}
        for leaf in leaves.get(bucket, []):
            category = tree.by_id[leaf.category_id]
            general = category.parent_id is None
            children.setdefault(category.root_id, []).append(
                Row(
                    key=f"{category.slug}-general" if general else category.slug,
                    label=category.label(locale),
                    members=leaf.members,
                    values=_demand_values(leaf, leaf_q.get((bucket, leaf.category_id))),
                )
            )
        rows = []
        for root in sorted(roots.get(bucket, []), key=lambda r: tree.by_id[r.root_id].position):
            category = tree.by_id[root.root_id]
            rows.append(
                Row(
                    key=category.slug,
                    label=category.label(locale),
                    members=root.members,
                    values=_demand_values(root, root_q.get((bucket, root.root_id))),
                    children=sorted(children.get(root.root_id, []), key=lambda r: r.label),
                )
            )
        total_row = Row(
            key="total",
            label="total",
            members=total.members,
            values=_demand_values(total, total_q.get((bucket, None))),
        )
        tables[bucket] = Table("demand", rows, total=total_row)
    return tables


def windows_tables(session: Session, group_id: int, split: Split) -> dict:
    """When members intend to buy: intents by the quarter their window starts in."""
    s = _live(consented(Intent, group_id, split, "user_id", "window_start", "status"))
    year = cast(extract("year", s.c.window_start), Integer).label("year")
    quarter = ((cast(extract("month", s.c.window_start), Integer) - 1) // 3 + 1).label("quarter")
    rows = session.execute(
        select(s.c.bucket, year, quarter, func.count(distinct(s.c.user_id)), func.count())
        .group_by(s.c.bucket, year, quarter)
        .order_by(year, quarter)
    ).all()
    return {
        bucket: Table(
            "windows",
            [
                Row(
                    key=f"{y}-Q{q}",
                    label=f"{y} Q{q}",
                    members=m,
                    values={"members": m, "intents": n},
                )
                for _bucket, y, q, m, n in found
            ],
            sums_released_elsewhere=True,
        )
        for bucket, found in _by_bucket(rows).items()
    }


# --- preferences --------------------------------------------------------------------


def _json_values(session: Session, column):
    if dialect(session) == "postgresql":
        return func.json_array_elements_text(column).table_valued("value")
    return func.json_each(column).table_valued("value")


def preference_tables(
    session: Session,
    group_id: int,
    split: Split,
    tree: CategoryTree,
    locale: str,
    top: int | None = TOP_ROWS,
) -> dict:
    """Which values and brands matter, by top category, weighted by importance.

    Per bucket, three tables: top categories, values and brands (``top``
    brands, or all of them with None).
    """
    s = consented(
        Preference, group_id, split, "id", "user_id", "root_id", "importance", "values"
    ).subquery()
    roots = _by_bucket(
        session.execute(
            select(
                s.c.bucket,
                s.c.root_id,
                func.count(distinct(s.c.user_id)),
                func.count(),
                func.sum(s.c.importance),
            ).group_by(s.c.bucket, s.c.root_id)
        )
    )
    values = _json_values(session, s.c["values"])
    value_rows = _by_bucket(
        session.execute(
            select(
                s.c.bucket,
                s.c.root_id,
                values.c.value,
                func.count(distinct(s.c.user_id)),
                func.sum(s.c.importance),
            )
            .select_from(s)
            .join(values, true())
            .group_by(s.c.bucket, s.c.root_id, values.c.value)
        )
    )
    members = func.count(distinct(s.c.user_id))
    link_table = links_of(split)
    link_table = link_table if link_table is not None else PreferenceCompany.__table__
    named = link_table.c
    links = (
        select(
            s.c.bucket,
            s.c.root_id,
            named.stance,
            Company.name,
            members,
            func.sum(s.c.importance),
        )
        .select_from(s)
        .join(link_table, named.preference_id == s.c.id)
        .join(Company, Company.id == named.company_id)
        .group_by(s.c.bucket, s.c.root_id, named.stance, Company.name)
    )
    if top is not None:  # the whole page: the database picks the top rows
        links = links.order_by(
            members.desc(),
            func.sum(s.c.importance).desc(),
            Company.name,
            s.c.root_id,
            named.stance,
        ).limit(top)
    brand_rows = _by_bucket(session.execute(links))

    def label(root_id):
        return tree.by_id[root_id].label(locale)

    tables = {}
    for bucket, bucket_roots in roots.items():
        weight = {root_id: total for _b, root_id, _m, _n, total in bucket_roots}
        root_table = Table(
            "preference_roots",
            [
                Row(
                    key=tree.by_id[r].slug,
                    label=label(r),
                    members=m,
                    values={"members": m, "preferences": n, "weight": w},
                )
                for _b, r, m, n, w in sorted(
                    bucket_roots, key=lambda row: tree.by_id[row[1]].position
                )
            ],
            # The preferences per month add up to the same number of preferences.
            sums_released_elsewhere=True,
        )
        value_table = Table(
            "preference_values",
            [
                Row(
                    key=f"{tree.by_id[r].slug}:{v}",
                    label=f"{label(r)} · {VALUES.get(v, v)}",
                    members=m,
                    values={
                        "members": m,
                        "weight": w,
                        "share": round(100 * w / weight[r]) if weight[r] else 0,
                    },
                )
                for _b, r, v, m, w in sorted(
                    value_rows.get(bucket, []),
                    key=lambda row: (tree.by_id[row[1]].position, -row[4], row[2]),
                )
            ],
        )
        brand_table = Table(
            "brands",
            [
                Row(
                    key=f"{tree.by_id[r].slug}:{stance}:{name}",
                    label=f"{label(r)} · {name}",
                    members=m,
                    values={"members": m, "weight": w, "stance": str(stance)},
                )
                for _b, r, stance, name, m, w in sorted(
                    brand_rows.get(bucket, []),
                    key=lambda row: (-row[4], -row[5], tree.by_id[row[1]].position, row[3]),
                )
            ],
        )
        tables[bucket] = (root_table, value_table, brand_table)
    return tables


# --- ratings ------------------------------------------------------------------------


def ratings_tables(
    session: Session, group_id: int, split: Split, k: int, listed: list[int] | None = None
) -> dict:
    """Ratings of the companies rated by most members (or of ``listed`` ones), and the rest.

    The pages of a filter list the same companies as the whole page, so that
    their rows, "all other companies" included, can be compared with it.
    """
    s = consented(
        Feedback, group_id, split, "user_id", "company_id", "rating", "commented"
    ).subquery()
    members = func.count(distinct(s.c.user_id))
    companies = (
        select(
            s.c.bucket,
            s.c.company_id,
            Company.name,
            members,
            func.count(),
            func.sum(s.c.rating),
            func.sum(case((s.c.rating == 5, 1), else_=0)),
            func.sum(case((s.c.rating <= 3, 1), else_=0)),
            func.sum(s.c.commented),
            func.count(distinct(case((s.c.commented == 1, s.c.user_id)))),
        )
        .join(Company, Company.id == s.c.company_id)
        .group_by(s.c.bucket, s.c.company_id, Company.name)
    )
    if listed is None:  # the whole page: the database picks the most rated companies
        companies = companies.order_by(members.desc(), Company.name, s.c.company_id).limit(TOP_ROWS)
    else:
        companies = companies.where(s.c.company_id.in_(listed))
    company_rows = session.execute(companies).all()
    listed = listed if listed is not None else [row[1] for row in company_rows]
    # The companies not listed, together: the rows then add up to every rating,
    # a total the feedback trend releases, so they go through suppression too.
    others = _by_bucket(
        session.execute(
            select(s.c.bucket, members, func.count())
            .where(s.c.company_id.not_in(listed) if listed else true())
            .group_by(s.c.bucket)
        )
    )
    buckets = _by_bucket(
        session.execute(
            select(s.c.bucket, s.c.company_id, s.c.rating, members, func.count()).group_by(
                s.c.bucket, s.c.company_id, s.c.rating
            )
        )
    )
    by_bucket = _by_bucket(company_rows)
    tables = {}
    for bucket in {*by_bucket, *others, *buckets}:
        found = by_bucket.get(bucket, [])
        stars = [row[1:] for row in buckets.get(bucket, [])]
        seen = {(company_id, rating) for company_id, rating, _m, _n in stars}
        # Every star appears, empty ones too, so that a hidden row never tells a star was given.
        stars += [
            (row[1], r, 0, 0) for row in found for r in range(1, 6) if (row[1], r) not in seen
        ]
        by_company: dict[int, list[Row]] = {}
        for company_id, rating, star_members, count in stars:
            by_company.setdefault(company_id, []).append(
                Row(
                    key=f"{company_id}:{rating}",
                    label=f"{rating} ★",
                    members=star_members,
                    values={"members": star_members, "count": count, "rating": rating},
                )
            )
        rows = []
        for row in found:
            _b, company_id, name, company_members, count, total, *rest = row
            promoters, detractors, comments, commenters = rest
            rows.append(
                Row(
                    key=str(company_id),
                    label=name,
                    members=company_members,
                    values={
                        "members": company_members,
                        "count": count,
                        "average": round(total / count, 2),
                        "nps": round(100 * (promoters - detractors) / count),
                        # A count of comments rests on the members who wrote them: shown
                        # where k or more did, on the whole page only (never differenced).
                        "comments": comments
                        if commenters >= k and split.dimension is None
                        else None,
                    },
                    children=sorted(
                        by_company.get(company_id, []), key=lambda r: r.values["rating"]
                    ),
                )
            )
        rows.sort(key=lambda r: (-r.members, r.label))
        other = others.get(bucket)
        if other and other[0][2]:
            _b, other_members, other_count = other[0]
            rows.append(
                Row(
                    key="other-companies",
                    label=str(_l("All other companies")),
                    members=other_members,
                    values={
                        "members": other_members,
                        "count": other_count,
                        "average": None,
                        "nps": None,
                        "comments": None,
                    },
                )
            )
        tables[bucket] = Table("ratings", rows, sums_released_elsewhere=True)
    return tables


def _withhold_derived_ratings(table: Table) -> None:
    """Average and score would let hidden rating buckets be solved for: withheld with them."""
    for row in table.rows:
        if any(not bucket.released and bucket.members > 0 for bucket in row.children):
            row.values["average"] = None
            row.values["nps"] = None


# --- trends -------------------------------------------------------------------------


def trend_tables(session: Session, group_id: int, split: Split, model, name: str) -> dict:
    """Items per month recorded; intents still wanted only, the same ones demand counts
    (all intents minus live ones would tell of the few members whose intent ended)."""
    if model is Intent:
        s = _live(consented(model, group_id, split, "user_id", "created_at", "status"))
    else:
        s = consented(model, group_id, split, "user_id", "created_at").subquery()
    month = month_of(session, s.c.created_at).label("month")
    rows = session.execute(
        select(s.c.bucket, month, func.count(distinct(s.c.user_id)), func.count())
        .group_by(s.c.bucket, month)
        .order_by(month)
    ).all()
    return {
        bucket: Table(
            name,
            [
                Row(key=m, label=m, members=members, values={"members": members, "count": n})
                for _b, m, members, n in found
            ],
            sums_released_elsewhere=True,
        )
        for bucket, found in _by_bucket(rows).items()
    }


TREND_KINDS = {"intents": Intent, "preferences": Preference, "feedback": Feedback}


# --- members counted in more than one row -------------------------------------------


def _multi_counts(session: Session, s, key, parent=None, joined=None) -> dict:
    """Per (bucket, parent): how many members fall in more than one row ``key``.

    Rows count distinct members, and one member may be in several rows (two
    quarters, two values); the rows' members minus their parent's tell how
    many. That number must rest on k members or none.
    """
    parent_column = parent if parent is not None else literal_column("0")
    per_member = (
        select(
            s.c.bucket.label("bucket"),
            parent_column.label("parent"),
            s.c.user_id,
        )
        .select_from(s)
        .group_by(s.c.bucket, s.c.user_id, *([parent] if parent is not None else []))
        .having(func.count(distinct(key)) > 1)
    )
    if joined is not None:
        per_member = per_member.join(joined, true())
    per_member = per_member.subquery()
    rows = session.execute(
        select(per_member.c.bucket, per_member.c.parent, func.count()).group_by(
            per_member.c.bucket, per_member.c.parent
        )
    )
    return {(bucket, parent_key): n for bucket, parent_key, n in rows}


def _multi_bucket_counts(session: Session, s, key, joined=None) -> dict:
    """Per row ``key``: how many members fall on more than one page of the filter."""
    per_member = (
        select(key.label("key"), s.c.user_id)
        .select_from(s)
        .where(s.c.bucket.is_not(None))
        .group_by(key, s.c.user_id)
        .having(func.count(distinct(s.c.bucket)) > 1)
    )
    if joined is not None:
        per_member = per_member.join(joined, true())
    per_member = per_member.subquery()
    rows = session.execute(select(per_member.c.key, func.count()).group_by(per_member.c.key))
    return dict(rows.all())


@dataclass
class _Counted:
    """Every kind's consented rows with what the overlap checks key them by."""

    intents: object  # live intents, the ones every intent figure counts
    preferences: object
    feedback: object
    quarter: object


def _counted(session: Session, group_id: int, split: Split) -> _Counted:
    intents = _live(
        consented(
            Intent,
            group_id,
            split,
            "user_id",
            "category_id",
            "root_id",
            "window_start",
            "status",
            "created_at",
        )
    )
    window = intents.c.window_start
    return _Counted(
        intents=intents,
        preferences=consented(
            Preference, group_id, split, "user_id", "root_id", "values", "created_at"
        ).subquery(),
        feedback=consented(
            Feedback, group_id, split, "user_id", "company_id", "rating", "created_at"
        ).subquery(),
        quarter=cast(extract("year", window), Integer) * 10
        + (cast(extract("month", window), Integer) - 1) // 3
        + 1,
    )


def overlapping_figures(
    session: Session, group_id: int, split: Split, k: int
) -> tuple[set[tuple[str, object]], set[str]]:
    """The figures whose member counts must be withheld, per bucket and across the pages.

    Rows count distinct members and a member may be in several rows (two
    quarters, two values, two companies): the rows' members minus their
    parent's then tell how many. Where 1 to k−1 members are in more than one
    row of a figure, its member counts are withheld on that page (item
    counts are ``repeated_items``' concern). Pages of a category or year filter overlap the same way
    (a member with data in two categories): where 1 to k−1 members of a
    figure are on more than one page, its member counts are withheld on every
    page of the filter. Returns ({(figure, bucket)}, {figure}).
    """
    counted = _counted(session, group_id, split)
    intents, preferences, feedback = counted.intents, counted.preferences, counted.feedback
    values = _json_values(session, preferences.c["values"])
    families = [
        ("demand", intents, intents.c.root_id, None, None),
        ("demand:children", intents, intents.c.category_id, intents.c.root_id, None),
        ("windows", intents, counted.quarter, None, None),
        ("intents", intents, month_of(session, intents.c.created_at), None, None),
        ("preferences", preferences, month_of(session, preferences.c.created_at), None, None),
        ("preference_roots", preferences, preferences.c.root_id, None, None),
        ("preference_values", preferences, values.c.value, preferences.c.root_id, values),
        ("feedback", feedback, month_of(session, feedback.c.created_at), None, None),
        ("ratings", feedback, feedback.c.company_id, None, None),
        ("ratings:children", feedback, feedback.c.rating, feedback.c.company_id, None),
    ]
    within, across = set(), set()
    for name, s, key, parent, joined in families:
        for (bucket, _parent), n in _multi_counts(session, s, key, parent, joined).items():
            if 0 < n < k:
                within.add((name, bucket))
        pages_overlap = split.dimension in ("category", "year")
        if pages_overlap and any(
            0 < n < k for n in _multi_bucket_counts(session, s, key, joined).values()
        ):
            across.add(name)
    if split.dimension in ("category", "year"):
        # The pages' own totals: members with live intents, members with preferences.
        for name, s in (("demand:total", intents), ("segments", preferences)):
            counts = _multi_bucket_counts(session, s, s.c.user_id * 0)
            if any(0 < n < k for n in counts.values()):
                across.add(name)
    return within, across


def _repeat_counts(session: Session, s, *keys) -> dict:
    """Per (bucket, cell): how many members hold more than one item in that cell."""
    per_member = (
        select(s.c.bucket.label("bucket"), *(key.label(f"k{i}") for i, key in enumerate(keys)))
        .add_columns(s.c.user_id)
        .group_by(s.c.bucket, *keys, s.c.user_id)
        .having(func.count() > 1)
        .subquery()
    )
    cells = [per_member.c[f"k{i}"] for i in range(len(keys))]
    rows = session.execute(
        select(per_member.c.bucket, *cells, func.count()).group_by(per_member.c.bucket, *cells)
    )
    return {tuple(row[:-1]): row[-1] for row in rows}


def repeated_items(session: Session, group_id: int, split: Split, k: int) -> set:
    """(kind, bucket) where 1 to k−1 members hold more than one item in some cell.

    "16 members, 17 intents" tells of one member with two. Item counts add up
    across figures (demand, quarters and months all count the same intents),
    so where any cell of a kind shows this, that kind's item counts are
    withheld from every figure of the page.
    """
    counted = _counted(session, group_id, split)
    intents, preferences, feedback = counted.intents, counted.preferences, counted.feedback
    cells = {
        "intents": (
            intents,
            [
                (intents.c.user_id * 0,),
                (intents.c.root_id,),
                (intents.c.category_id,),
                (counted.quarter,),
                (month_of(session, intents.c.created_at),),
            ],
        ),
        "preferences": (
            preferences,
            [
                (preferences.c.user_id * 0,),
                (preferences.c.root_id,),
                (month_of(session, preferences.c.created_at),),
            ],
        ),
        "feedback": (
            feedback,
            [
                (feedback.c.user_id * 0,),
                (feedback.c.company_id,),
                (feedback.c.company_id, feedback.c.rating),
                (month_of(session, feedback.c.created_at),),
            ],
        ),
    }
    found = set()
    for kind, (s, keyings) in cells.items():
        for keys in keyings:
            for cell, n in _repeat_counts(session, s, *keys).items():
                if 0 < n < k:
                    found.add((kind, cell[0]))
    return found


def _withhold_items(figures: Figures, kind: str) -> None:
    """One kind's item counts withheld from every figure of the page that shows them."""
    tables = {
        "intents": [(figures.demand, "intents"), (figures.windows, "intents")],
        "preferences": [(figures.preference_roots, "preferences")],
        "feedback": [(figures.ratings, "count")],
    }[kind] + [(figures.trends[kind], "count")]
    for table, measure in tables:
        for row in [*table.all_rows(), *([table.total] if table.total else [])]:
            if measure in row.values:
                row.values[measure] = None


def _compute(
    session,
    group,
    k: int,
    split: Split,
    tree,
    locale: str,
    top: int | None,
    listed: list[int] | None,
    changes=None,
) -> dict:
    """Every figure, released with k on its own, for every bucket of ``split``."""
    gathered = split  # the rows gathered once for the whole release (``pages_of``)
    demand = demand_tables(session, group.id, gathered, tree, locale, k)
    windows = windows_tables(session, group.id, gathered)
    preferences = preference_tables(session, group.id, gathered, tree, locale, top)
    ratings = ratings_tables(session, group.id, gathered, k, listed)
    segments = segments_tables(session, group.id, gathered, tree, k)
    trends = {
        name: trend_tables(session, group.id, gathered, model, name)
        for name, model in TREND_KINDS.items()
    }
    within, across = overlapping_figures(session, group.id, gathered, k)
    repeated = repeated_items(session, group.id, gathered, k)
    buckets = [WHOLE_BUCKET] if split.dimension is None else [*split.values, None]
    if listed is None:  # the whole page: the companies it lists
        whole_ratings = ratings.get(WHOLE_BUCKET, _empty("ratings"))
        listed = [int(row.key) for row in whole_ratings.rows if row.key.isdigit()]
    pages = {}
    for bucket in buckets:
        preference_roots, preference_values, brands = preferences.get(
            bucket,
            (Table("preference_roots", []), Table("preference_values", []), Table("brands", [])),
        )
        unreleased = {
            "demand": demand.get(bucket, Table("demand", [])),
            "windows": windows.get(bucket, _empty("windows")),
            "preference_roots": preference_roots,
            "preference_values": preference_values,
            "brands": brands,
            "ratings": ratings.get(bucket, _empty("ratings")),
            "segments": segments.get(bucket, _empty("segments")),
        }
        unreleased_trends = {
            name: tables.get(bucket, _empty(name)) for name, tables in trends.items()
        }
        if changes is not None:
            every = [*unreleased.values(), *unreleased_trends.values()]
            changes.annotate(split, bucket, every, listed)
        pages[bucket] = Figures(
            k=k,
            **{name: release(table, k) for name, table in unreleased.items()},
            trends={name: release(table, k) for name, table in unreleased_trends.items()},
        )
        _link_shared_sums(pages[bucket], k)
        for name, where in within:
            if where == bucket:
                _withhold_members(pages[bucket], name)
        for kind, where in repeated:
            if where == bucket:
                _withhold_items(pages[bucket], kind)
    for figures in pages.values():
        figures.overlapping_pages = across
    return pages


def _populations(figures: Figures) -> list[tuple[Row | None, list[Row], str]]:
    """(population, rows, figure name): rows whose members are all in the population."""
    demand_total, segments_total = figures.demand.total, figures.segments.total
    values_by_root: dict[str, list[Row]] = {}
    for row in figures.preference_values.rows:
        values_by_root.setdefault(row.key.split(":", 1)[0], []).append(row)
    return [
        (demand_total, figures.demand.rows, "demand"),
        (demand_total, figures.windows.rows, "windows"),
        (demand_total, figures.trends["intents"].rows, "intents"),
        (segments_total, figures.preference_roots.rows, "preference_roots"),
        (segments_total, figures.trends["preferences"].rows, "preferences"),
        *((root, root.children, "demand:children") for root in figures.demand.rows),
        *(
            (root, values_by_root.get(root.key, []), "preference_values")
            for root in figures.preference_roots.rows
        ),
    ]


def _withhold_negations(figures: Figures, k: int) -> None:
    """Member counts withheld where a row leaves 1 to k−1 of its population out.

    "16 members have preferences, 14 chose Renewable" tells that 2 did not.
    Where rows share out their population (one row per member), the hidden
    rows already rest on k members together; where a member can be in
    several rows, the rows' members are checked against the population.
    """
    for population, rows, name in _populations(figures):
        if population is None or not population.released:
            continue
        if any(
            row.released
            and row.values.get("members") is not None
            and 0 < population.members - row.members < k
            for row in rows
        ):
            _withhold_members(figures, name)


def _moved_members(delta: dict) -> int:
    return delta.get("members", 0)


def _withhold_moved_counts(figures: Figures, k: int) -> None:
    """Counts whose differences between two releases would tell of 1 to k−1 members.

    The same three differences as within one release, now of the change since
    the previous release: a row's members against its population's ("one
    more member with preferences, none more for Renewable"), a figure's rows'
    members against its population's (one more member now in two quarters),
    and a row's items against its members (one more intent, no more members).
    Where such a difference moved for 1 to k−1 members, the counts that show
    it are withheld on the page.
    """
    for population, rows, name in _populations(figures):
        if population is None:
            continue
        overlap: dict = {}
        for row in rows:
            for member in {*population.deltas, *row.deltas}:
                pop = _moved_members(population.deltas.get(member, {}))
                own = _moved_members(row.deltas.get(member, {}))
                overlap[member] = overlap.get(member, -pop) + own
            apart = {
                member
                for member in {*population.deltas, *row.deltas}
                if _moved_members(population.deltas.get(member, {}))
                != _moved_members(row.deltas.get(member, {}))
            }
            if 0 < len(apart) < k:
                _withhold_members(figures, name)
                break
        else:
            if 0 < sum(1 for value in overlap.values() if value) < k:
                _withhold_members(figures, name)
    items = {
        "intents": [(figures.demand, "intents"), (figures.windows, "intents")],
        "preferences": [(figures.preference_roots, "preferences")],
        "feedback": [(figures.ratings, "count")],
    }
    for kind, measures in items.items():
        for table, measure in [*measures, (figures.trends[kind], "count")]:
            if any(
                0 < sum(1 for delta in row.deltas.values() if _extra(delta, measure)) < k
                for row in [*table.all_rows(), *([table.total] if table.total else [])]
            ):
                _withhold_items(figures, kind)
                break


def _extra(delta: dict, measure: str) -> bool:
    """Whether a member's items in a row moved otherwise than their membership of it."""
    return delta.get(measure, 0) != delta.get("members", 0)


def _withhold_members(figures: Figures, name: str) -> None:
    """Member counts withheld from a figure's rows (``name``), their children
    (``name:children``) or its total and rows (``name:total``)."""
    table_name, _, level = name.partition(":")
    table = figures.by_name(table_name)
    if level == "total":  # on a category page the one top row is the total again
        rows = [*table.rows, *([table.total] if table.total is not None else [])]
    elif level == "children":
        rows = [child for row in table.rows for child in row.children]
    else:
        rows = table.rows
    for row in rows:
        if "members" in row.values:
            row.values["members"] = None
        if "share" in row.values and table_name == "segments":
            row.values["share"] = None


def _shared_sums(figures: Figures) -> list[tuple[Table, Table]]:
    """Pairs of figures that add up to the same number on a page.

    Live intents (demand's total, the quarters, the months), ratings (the
    companies with all others, the months) and preferences (the categories,
    the months).
    """
    return [
        (figures.demand, figures.windows),
        (figures.demand, figures.trends["intents"]),
        (figures.ratings, figures.trends["feedback"]),
        (figures.preference_roots, figures.trends["preferences"]),
    ]


def _sum_told(table: Table) -> bool:
    """Whether the figure's sum can be read off it (its total, or all its rows).

    A row hidden but added back up from its children (``release.recovered``) is told too.
    """
    rows_told = bool(table.rows) and all(row.released or recovered(row) for row in table.rows)
    if table.total is not None:
        return table.total.released or rows_told
    return rows_told


def _sum_kept(table: Table, k: int) -> bool:
    """Whether the figure's protection rests on its sum staying unknown.

    A hidden total (its rows were protected against it alone), a lone row
    hidden as a complement or for having moved for too few members, hidden
    rows resting together on fewer than k members (nothing beside them was
    left to hide), or hidden rows whose sum moved for 1 to k−1 members since
    the previous release.
    """
    if table.total is not None:
        return not table.total.released and table.total.members > 0
    hidden = [
        row for row in table.rows if not row.released and row.members > 0 and not recovered(row)
    ]
    lone = len(hidden) == 1 and hidden[0].suppressed in (
        Suppressed.COMPLEMENT,
        Suppressed.CHANGED,
    )
    return lone or 0 < sum(row.members for row in hidden) < k or moved_for_too_few(hidden, k)


def _link_shared_sums(figures: Figures, k: int) -> bool:
    """Where one of two figures with the same sum hides part of it, the other does too.

    Otherwise the fully released one tells the sum, and the sum with the
    other's released rows tells what that one hid. Repeats until settled;
    True where anything was hidden.
    """
    changed_any, changed = False, True
    while changed:
        changed = False
        for first, second in _shared_sums(figures):
            for hiding, telling in ((first, second), (second, first)):
                if _sum_kept(hiding, k) and _sum_told(telling):
                    choices = [telling.total] if telling.total is not None else telling.rows
                    choices = [row for row in choices if not row.pinned]
                    if not choices:
                        continue
                    min(
                        choices, key=lambda r: (r.members, r.key)
                    ).suppressed = Suppressed.COMPLEMENT
                    release(telling, k)
                    changed = changed_any = True
    return changed_any


def _empty(name: str) -> Table:
    return Table(name, [], sums_released_elsewhere=True)


def _release_together(pages: list[Figures], outside: Figures, whole: Figures, k: int):
    """Release the pages of one filter so that no sum or difference of them reveals too little.

    For every row, the whole page's value is what every filtered page's value
    and the part no page shows (``outside``: no region, an older year) add up
    to. Those cells are released together as the children of the whole row
    (``release.py``): a cell hidden on its own page, or a part outside resting
    on fewer than k members, makes another page hide its cell too, and a row
    the whole page hid is not added back up from the pages. The part outside
    is never shown; resting on k members or more it is as good as hidden.
    Hiding a cell can cascade within its page, so both repeat until nothing
    changes.
    """

    def rows_by_key(table: Table) -> dict[str, Row]:
        return {
            row.key: row for row in [*table.all_rows(), *([table.total] if table.total else [])]
        }

    changed = True
    while changed:
        changed = False
        for index, whole_table in enumerate(whole.comparable()):
            page_rows = [rows_by_key(page.comparable()[index]) for page in pages]
            outside_rows = rows_by_key(outside.comparable()[index])
            for key, whole_row in rows_by_key(whole_table).items():
                cells = [rows[key] for rows in page_rows if key in rows]
                rest = outside_rows.get(key)
                rest_cell = Row(
                    key="~outside",
                    label="",
                    members=rest.members if rest else 0,
                    suppressed=Suppressed.TOO_FEW,
                    deltas=rest.deltas if rest else {},
                    # never shown: what the pages leave out
                    shown_before=None if rest is None or rest.shown_before is None else False,
                    members_before=rest.members_before if rest else 0,
                )
                # A cell its page adds back up from its children is told, hidden or not.
                stand_ins = [
                    Row(
                        key=cell.key,
                        label="",
                        members=cell.members,
                        suppressed=None if recovered(cell) else cell.suppressed,
                        pinned=cell.pinned or recovered(cell),
                        changed=cell.changed,
                        deltas=cell.deltas,
                        shown_before=cell.shown_before,
                        members_before=cell.members_before,
                    )
                    for cell in cells
                ]
                parent = Row(
                    key=key,
                    label="",
                    members=whole_row.members,
                    suppressed=whole_row.suppressed,
                    children=[*stand_ins, rest_cell],
                    pinned=True,  # the whole page is the same for every filter: never hidden here
                    shown_before=whole_row.shown_before,
                )
                release(Table("together", [parent]), k)
                for cell, stand_in in zip(cells, stand_ins, strict=True):
                    if cell.released and not stand_in.released:
                        cell.suppressed = Suppressed.COMPLEMENT
                        changed = True
                unknown = [c for c in [*stand_ins, rest_cell] if not c.released and c.members > 0]
                if parent.released and len(unknown) == 1 and unknown[0] is not rest_cell:
                    # The whole page and the other pages tell this cell: it protects nothing
                    # hidden, so its page must protect its own small rows by other means.
                    cell = cells[stand_ins.index(unknown[0])]
                    if cell.suppressed == Suppressed.COMPLEMENT:
                        cell.suppressed, cell.pinned = None, True
                        changed = True
        if changed:
            for page in pages:
                for table in page.tables():
                    release(table, k)
                _link_shared_sums(page, k)


def _add_noise(session: Session, group, epsilon_milli: int, pages: list[Figures]) -> None:
    """Every release with noise spends epsilon per noisy count (``noise.py``).

    The group's budget counter shows the total, kept in SQL so that
    concurrent page views all count.
    """
    epsilon = Fraction(epsilon_milli, 1000)
    touched = 0
    for figures in pages:
        touched += add_noise(figures.tables(), epsilon)
        figures.noise_epsilon = epsilon
    _spend_privacy_budget(session, group, epsilon_milli * touched)


def _spend_privacy_budget(session: Session, group, spent_milli: int) -> None:
    session.execute(
        update(Group)
        .where(Group.id == group.id)
        .values(privacy_budget_spent_milli=Group.privacy_budget_spent_milli + spent_milli)
    )
    session.refresh(group, ["privacy_budget_spent_milli"])


def _describe_segments_by_released_rows(figures: Figures, whole: Figures) -> None:
    """Segments name only categories and values that their page and the whole page release.

    Naming a value tells that some of the segment's members chose it; where a
    page hides that value's row (fewer than k members), the name would tell
    what the row hides. Shares of members are withheld with any hidden
    segment or total: a share divides by the total, which would give it away.
    """
    segments = figures.segments
    seen = [figures] if figures is whole else [figures, whole]
    roots = set.intersection(
        *({row.key for row in page.preference_roots.rows if row.released} for page in seen)
    )
    values = set.intersection(
        *({row.key for row in page.preference_values.rows if row.released} for page in seen)
    )
    released_codes = {key.split(":", 1)[1] for key in values}
    all_released = segments.total is not None and segments.total.released
    all_released = all_released and all(row.released for row in segments.rows)
    for row in segments.rows:
        row.values["categories"] = [c for c in row.values["categories"] if c in roots]
        row.values["values"] = [v for v in row.values["values"] if v in released_codes]
        if not all_released:
            row.values["share"] = None


def _top_brands(table: Table) -> None:
    table.rows = table.rows[:TOP_ROWS]


def pages_of(
    session: Session,
    group,
    tree: CategoryTree,
    locale: str,
    dimensions,
    *,
    tables: dict | None = None,
    changes=None,
) -> dict[Filters, Figures]:
    """The whole page and every page of each filter in ``dimensions``, released.

    The pages of one filter are computed in one pass (``Split``) and released
    together with the whole page (``_release_together``): checked one at a
    time against the whole page, Bilbao and Getxo could still be subtracted
    from it together. The whole page is the same for every filter. Every
    page reads the same gathered rows (``tables``, or gathered here).
    ``changes`` (``changes.Changes``) tells, for every row, how many members'
    part in it moved since it was last released, and by how much since the
    previous release, so that no difference between releases rests on 1 to
    k−1 members.
    """
    charter = current_charter(session, group)
    roots = allowed_roots(charter, tree)
    reading = nullcontext(tables) if tables is not None else gathered(session, group.id, roots)
    with reading as rows:
        pages = _pages(session, group, tree, locale, dimensions, charter, rows, changes)
    if charter.noise_epsilon_milli:
        _add_noise(session, group, charter.noise_epsilon_milli, list(pages.values()))
    return pages


def _pages(session, group, tree, locale, dimensions, charter, rows, changes):
    k = charter.k_anonymity
    whole_split = Split(roots=allowed_roots(charter, tree), tables=rows)
    whole = _compute(session, group, k, whole_split, tree, locale, TOP_ROWS, None, changes)[
        WHOLE_BUCKET
    ]
    pages = {Filters(): whole}
    listed = [int(row.key) for row in whole.ratings.rows if row.key.isdigit()]
    for dimension in dimensions:
        split = replace(offered_split(session, group, charter, tree, dimension), tables=rows)
        if dimension == "region":
            whole.regions = [
                (key, name)
                for key, name in shared_regions(session, group.id, k, split.roots)
                if key in split.values
            ]
        # Every company, so that all pages' cells are known; the lists are cut after release.
        found = _compute(session, group, k, split, tree, locale, None, listed, changes)
        outside = found.pop(None)
        _release_together(list(found.values()), outside, whole, k)
        for bucket, figures in found.items():
            _top_brands(figures.brands)
            for name in figures.overlapping_pages:
                _withhold_members(figures, name)
            pages[split.filters(bucket)] = figures
    for figures in pages.values():
        _withhold_derived_ratings(figures.ratings)
        _withhold_negations(figures, k)
        _withhold_moved_counts(figures, k)
        _describe_segments_by_released_rows(figures, whole)
    return pages


FILTER_DIMENSIONS = ("category", "region", "year")


def company_page(
    session: Session, group, k: int, split: Split, tree, changes, *, noise: int | None = None
) -> Figures:
    """One page as companies may see it (``company.py``): this page's own code and the same
    withholding, with the company k; ``noise``: the charter's epsilon in thousandths."""
    with gathered(session, group.id, split.roots) as rows:
        gathered_split = replace(split, tables=rows)
        figures = _compute(session, group, k, gathered_split, tree, "en", TOP_ROWS, None, changes)[
            WHOLE_BUCKET
        ]
    _withhold_derived_ratings(figures.ratings)
    _withhold_negations(figures, k)
    _withhold_moved_counts(figures, k)
    if noise:
        _add_noise(session, group, noise, [figures])
    return figures


def company_ratings(
    session: Session, group, k: int, split: Split, changes, *, listed: list[int]
) -> Table:
    """The ratings of the ``listed`` companies as each of them reads its own row
    (``company.py``): the ratings figure's own code and release, with the company k.

    A company reads its own row and its stars, never another company's row, the
    companies not listed or a total: no sum of rows is shown, so each row protects
    its own stars and never another company's row. Every listed company has a row,
    an empty one too, so that "nobody" and "too few" read the same: hidden.
    """
    with gathered(session, group.id, split.roots, split.partners_only) as rows:
        gathered_split = replace(split, tables=rows)
        computed = ratings_tables(session, group.id, gathered_split, k, listed)
        found = {
            row.key: row
            for row in computed.get(WHOLE_BUCKET, _empty("ratings")).rows
            if row.key.isdigit()
        }
        empty = {"members": 0, "count": 0, "average": None, "nps": None, "comments": None}
        table = Table(
            "ratings",
            [
                found.get(str(company_id)) or Row(str(company_id), "", 0, dict(empty))
                for company_id in listed
            ],
        )
        if changes is not None:
            changes.annotate(gathered_split, WHOLE_BUCKET, [table], listed)
    release(table, k)
    _withhold_derived_ratings(table)
    return table


def add_company_noise(session: Session, group, epsilon_milli: int, table: Table) -> None:
    """Noise on a table released to companies, spent from the group's privacy budget."""
    touched = add_noise([table], Fraction(epsilon_milli, 1000))
    _spend_privacy_budget(session, group, epsilon_milli * touched)


def all_pages(
    session: Session, group, tree: CategoryTree, locale: str, **options
) -> dict[Filters, Figures]:
    """Every page a release holds: the whole page and every page of every filter."""
    return pages_of(session, group, tree, locale, FILTER_DIMENSIONS, **options)


def filter_pages(
    session: Session, group, filters: Filters, tree: CategoryTree, locale: str
) -> dict[Filters, Figures]:
    """The whole page and the pages of ``filters``' filter, released."""
    pages = pages_of(session, group, tree, locale, [filters.dimension] if filters.active else [])
    if filters not in pages:
        raise ValueError(f"{filters} is not offered")
    return pages


def group_figures(
    session: Session, group, filters: Filters, tree: CategoryTree, locale: str
) -> Figures:
    """Every figure of the analytics page, released with the charter's k."""
    return filter_pages(session, group, filters, tree, locale)[filters]
