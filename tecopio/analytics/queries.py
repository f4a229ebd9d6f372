"""The aggregate SQL behind each figure, starting from what members consented to share.

Each ``*_table`` function returns an unreleased ``Table`` built from a fixed
number of statements, whatever the size of the group; ``group_figures`` runs
them all and releases every table with the group's k (``release.py``).
"""

from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, case, cast, distinct, extract, func, select, true, update
from sqlalchemy.orm import Session

from tecopio.analytics.noise import add_noise
from tecopio.analytics.release import Row, Suppressed, Table, release
from tecopio.analytics.segments import segments_table
from tecopio.analytics.source import Filters, consented, dialect, month_of, offered_filters
from tecopio.categories.services import CategoryTree
from tecopio.directory.models import Company
from tecopio.groups.models import Group
from tecopio.memberdata.models import (
    Feedback,
    Intent,
    IntentStatus,
    Preference,
    PreferenceCompany,
)
from tecopio.memberdata.vocab import VALUES
from tecopio.privacy.services import root_category_id

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
    stale: bool = False  # from a snapshot that does not count the latest changes yet

    def comparable(self) -> list[Table]:
        """Tables whose rows mean the same with and without a filter (all but segments)."""
        return [
            self.demand,
            self.windows,
            self.preference_roots,
            self.preference_values,
            self.brands,
            self.ratings,
            *self.trends.values(),
        ]

    def tables(self) -> list[Table]:
        return [*self.comparable(), self.segments]


# --- demand -----------------------------------------------------------------------


def _demand_measures(s):
    return (
        func.count(distinct(s.c.user_id)).label("members"),
        func.count().label("intents"),
        func.sum(s.c.quantity).label("quantity"),
        func.min(s.c.unit).label("unit_min"),
        func.max(s.c.unit).label("unit_max"),
    )


def _quartiles(session: Session, s, key, k: int):
    """Nearest-rank quartiles of members' budgets per ``key`` (None: over everything).

    Each member counts once, with the mean midpoint of their budget ranges in
    the budget currency, and quartiles are given only where at least k
    members have such budgets. PostgreSQL's percentile_disc and the
    window-function form used on SQLite both pick the value at rank
    ceil(p·n), so both give the same numbers.
    """
    mid = (s.c.budget_min + s.c.budget_max) // 2
    key_columns = [key.label("key")] if key is not None else []
    per_member = (
        select(*key_columns, s.c.user_id, (func.sum(mid) // func.count()).label("mid"))
        .where(s.c.currency == BUDGET_CURRENCY)
        .group_by(*([key] if key is not None else []), s.c.user_id)
        .subquery()
    )
    keys = [per_member.c.key] if key is not None else []
    if dialect(session) == "postgresql":
        rows = session.execute(
            select(
                *keys,
                *(func.percentile_disc(p).within_group(per_member.c.mid) for p in QUARTILES),
                func.count(),
            ).group_by(*keys)
        ).all()
        found = {
            (row[0] if key is not None else None): (tuple(row[-4:-1]), row[-1]) for row in rows
        }
    else:
        rank = func.row_number().over(partition_by=keys, order_by=per_member.c.mid).label("rank")
        count = func.count().over(partition_by=keys).label("n")
        ranked = select(*keys, per_member.c.mid, rank, count).subquery()
        n = ranked.c.n
        wanted = (ranked.c.rank == (n + 3) // 4) | (ranked.c.rank == (n + 1) // 2)
        wanted |= ranked.c.rank == (3 * n + 3) // 4
        ranked_keys = [ranked.c.key] if key is not None else []
        slots: dict = {}
        sizes: dict = {}
        statement = select(*ranked_keys, ranked.c.mid, ranked.c.rank, n).where(wanted)
        for row in session.execute(statement):
            group_key = row[0] if key is not None else None
            value, rank_value, size = row[-3], row[-2], row[-1]
            sizes[group_key] = size
            values = slots.setdefault(group_key, [None, None, None])
            for i, target in enumerate(((size + 3) // 4, (size + 1) // 2, (3 * size + 3) // 4)):
                if rank_value == target:
                    values[i] = value
        found = {
            group_key: (tuple(values), sizes[group_key]) for group_key, values in slots.items()
        }
    return {
        group_key: quartiles if members >= k else (None, None, None)
        for group_key, (quartiles, members) in found.items()
    }


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


def demand_table(
    session: Session, group_id: int, filters: Filters, tree: CategoryTree, locale: str, k: int
) -> Table:
    s = (
        consented(
            Intent,
            group_id,
            filters,
            Intent.user_id,
            Intent.category_id,
            root_category_id,
            Intent.quantity,
            Intent.unit,
            Intent.budget_min,
            Intent.budget_max,
            Intent.currency,
        )
        .where(Intent.status.in_(LIVE_INTENTS))
        .subquery()
    )
    leaves = session.execute(
        select(s.c.category_id, *_demand_measures(s)).group_by(s.c.category_id)
    ).all()
    roots = session.execute(select(s.c.root_id, *_demand_measures(s)).group_by(s.c.root_id)).all()
    total = session.execute(select(*_demand_measures(s))).one()
    leaf_q = _quartiles(session, s, s.c.category_id, k)
    root_q = _quartiles(session, s, s.c.root_id, k)
    total_q = _quartiles(session, s, None, k)

    children: dict[int, list[Row]] = {}
    for leaf in leaves:
        category = tree.by_id[leaf.category_id]
        general = category.parent_id is None
        children.setdefault(category.root_id, []).append(
            Row(
                key=f"{category.slug}-general" if general else category.slug,
                label=category.label(locale),
                members=leaf.members,
                values=_demand_values(leaf, leaf_q.get(leaf.category_id)),
            )
        )
    rows = []
    for root in sorted(roots, key=lambda r: tree.by_id[r.root_id].position):
        category = tree.by_id[root.root_id]
        rows.append(
            Row(
                key=category.slug,
                label=category.label(locale),
                members=root.members,
                values=_demand_values(root, root_q.get(root.root_id)),
                children=sorted(children.get(root.root_id, []), key=lambda r: r.label),
            )
        )
    total_row = Row(
        key="total",
        label="total",
        members=total.members,
        values=_demand_values(total, total_q.get(None)),
    )
    return Table("demand", rows, total=total_row if total.intents else None)


def windows_table(session: Session, group_id: int, filters: Filters) -> Table:
    """When members intend to buy: intents by the quarter their window starts in."""
    s = (
        consented(Intent, group_id, filters, Intent.user_id, Intent.window_start)
        .where(Intent.status.in_(LIVE_INTENTS))
        .subquery()
    )
    year = cast(extract("year", s.c.window_start), Integer).label("year")
    quarter = ((cast(extract("month", s.c.window_start), Integer) - 1) // 3 + 1).label("quarter")
    rows = session.execute(
        select(year, quarter, func.count(distinct(s.c.user_id)), func.count())
        .group_by(year, quarter)
        .order_by(year, quarter)
    ).all()
    return Table(
        "windows",
        [
            Row(key=f"{y}-Q{q}", label=f"{y} Q{q}", members=m, values={"members": m, "intents": n})
            for y, q, m, n in rows
        ],
        sums_released_elsewhere=True,
    )


# --- preferences --------------------------------------------------------------------


def _json_values(session: Session, column):
    if dialect(session) == "postgresql":
        return func.json_array_elements_text(column).table_valued("value")
    return func.json_each(column).table_valued("value")


def preference_tables(
    session: Session,
    group_id: int,
    filters: Filters,
    tree: CategoryTree,
    locale: str,
    top: int | None = TOP_ROWS,
) -> tuple[Table, Table, Table]:
    """Which values and brands matter, by top category, weighted by importance."""
    s = consented(
        Preference,
        group_id,
        filters,
        Preference.id,
        Preference.user_id,
        root_category_id,
        Preference.importance,
        Preference.values,
    ).subquery()
    roots = session.execute(
        select(
            s.c.root_id, func.count(distinct(s.c.user_id)), func.count(), func.sum(s.c.importance)
        ).group_by(s.c.root_id)
    ).all()
    weight = {root_id: total for root_id, _m, _n, total in roots}
    values = _json_values(session, s.c["values"])
    value_rows = session.execute(
        select(
            s.c.root_id, values.c.value, func.count(distinct(s.c.user_id)), func.sum(s.c.importance)
        )
        .select_from(s)
        .join(values, true())
        .group_by(s.c.root_id, values.c.value)
    ).all()
    links = (
        select(
            s.c.root_id,
            PreferenceCompany.stance,
            Company.name,
            func.count(distinct(s.c.user_id)),
            func.sum(s.c.importance),
        )
        .select_from(s)
        .join(PreferenceCompany, PreferenceCompany.preference_id == s.c.id)
        .join(Company, Company.id == PreferenceCompany.company_id)
        .group_by(s.c.root_id, PreferenceCompany.stance, Company.name)
        .order_by(
            func.count(distinct(s.c.user_id)).desc(),
            func.sum(s.c.importance).desc(),
            Company.name,
            s.c.root_id,
            PreferenceCompany.stance,
        )
        .limit(top)
    )
    brand_rows = session.execute(links).all()

    def label(root_id):
        return tree.by_id[root_id].label(locale)

    root_table = Table(
        "preference_roots",
        [
            Row(
                key=tree.by_id[r].slug,
                label=label(r),
                members=m,
                values={"members": m, "preferences": n, "weight": w},
            )
            for r, m, n, w in sorted(roots, key=lambda row: tree.by_id[row[0]].position)
        ],
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
            for r, v, m, w in sorted(
                value_rows, key=lambda row: (tree.by_id[row[0]].position, -row[3], row[1])
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
            for r, stance, name, m, w in sorted(
                brand_rows, key=lambda row: (-row[3], -row[4], tree.by_id[row[0]].position, row[2])
            )
        ],
    )
    return root_table, value_table, brand_table


# --- ratings ------------------------------------------------------------------------


def ratings_table(
    session: Session, group_id: int, filters: Filters, listed: list[int] | None = None
) -> Table:
    """Ratings of the companies rated by most members (or of ``listed`` ones), and the rest.

    A filtered page lists the same companies as the unfiltered one, so that
    its rows, "all other companies" included, can be compared with them.
    """
    s = consented(
        Feedback,
        group_id,
        filters,
        Feedback.user_id,
        Feedback.company_id,
        Feedback.rating,
        Feedback.body,
    ).subquery()
    companies = session.execute(
        select(
            s.c.company_id,
            Company.name,
            func.count(distinct(s.c.user_id)),
            func.count(),
            func.sum(s.c.rating),
            func.sum(case((s.c.rating == 5, 1), else_=0)),
            func.sum(case((s.c.rating <= 3, 1), else_=0)),
            func.sum(case((func.length(s.c.body) > 0, 1), else_=0)),
        )
        .join(Company, Company.id == s.c.company_id)
        .where(s.c.company_id.in_(listed) if listed is not None else true())
        .group_by(s.c.company_id, Company.name)
        .order_by(func.count(distinct(s.c.user_id)).desc(), Company.name, s.c.company_id)
        .limit(TOP_ROWS if listed is None else None)
    ).all()
    listed = listed if listed is not None else [row[0] for row in companies]
    # The companies not listed, together: the rows then add up to every rating,
    # a total the feedback trend releases, so they go through suppression too.
    others = session.execute(
        select(func.count(distinct(s.c.user_id)), func.count()).where(
            s.c.company_id.not_in(listed) if listed else true()
        )
    ).one()
    buckets = session.execute(
        select(
            s.c.company_id, s.c.rating, func.count(distinct(s.c.user_id)), func.count()
        ).group_by(s.c.company_id, s.c.rating)
    ).all()
    by_company: dict[int, list[Row]] = {}
    seen = {(company_id, rating) for company_id, rating, _m, _n in buckets}
    # Every star appears, empty ones too, so that a hidden row never tells a star was given.
    buckets = [
        *buckets,
        *((c, r, 0, 0) for c, *_ in companies for r in range(1, 6) if (c, r) not in seen),
    ]
    for company_id, rating, members, count in buckets:
        by_company.setdefault(company_id, []).append(
            Row(
                key=f"{company_id}:{rating}",
                label=f"{rating} ★",
                members=members,
                values={"count": count, "rating": rating},
            )
        )
    rows = []
    for company_id, name, members, count, total, promoters, detractors, comments in companies:
        rows.append(
            Row(
                key=str(company_id),
                label=name,
                members=members,
                values={
                    "members": members,
                    "count": count,
                    "average": round(total / count, 2),
                    "nps": round(100 * (promoters - detractors) / count),
                    "comments": comments,
                },
                children=sorted(by_company.get(company_id, []), key=lambda r: r.values["rating"]),
            )
        )
    rows.sort(key=lambda r: (-r.members, r.label))
    if others[1]:
        rows.append(
            Row(
                key="other-companies",
                label=str(_l("All other companies")),
                members=others[0],
                values={
                    "members": others[0],
                    "count": others[1],
                    "average": None,
                    "nps": None,
                    "comments": None,
                },
            )
        )
    return Table("ratings", rows, sums_released_elsewhere=True)


def _withhold_derived_ratings(table: Table) -> None:
    """Average and score would let hidden rating buckets be solved for: withheld with them."""
    for row in table.rows:
        if any(not bucket.released and bucket.members > 0 for bucket in row.children):
            row.values["average"] = None
            row.values["nps"] = None


# --- trends -------------------------------------------------------------------------


def trend_table(session: Session, group_id: int, filters: Filters, model, name: str) -> Table:
    s = consented(model, group_id, filters, model.user_id, model.created_at).subquery()
    month = month_of(session, s.c.created_at).label("month")
    rows = session.execute(
        select(month, func.count(distinct(s.c.user_id)), func.count())
        .group_by(month)
        .order_by(month)
    ).all()
    return Table(
        name,
        [
            Row(key=m, label=m, members=members, values={"members": members, "count": n})
            for m, members, n in rows
        ],
        sums_released_elsewhere=True,
    )


TREND_KINDS = {"intents": Intent, "preferences": Preference, "feedback": Feedback}


def _compute(
    session, group, filters: Filters, tree, locale: str, top: int | None, listed: list[int] | None
) -> Figures:
    k = group.k_anonymity
    preference_roots, preference_values, brands = preference_tables(
        session, group.id, filters, tree, locale, top
    )
    return Figures(
        k=k,
        demand=release(demand_table(session, group.id, filters, tree, locale, k), k),
        windows=release(windows_table(session, group.id, filters), k),
        preference_roots=release(preference_roots, k),
        preference_values=release(preference_values, k),
        brands=release(brands, k),
        ratings=release(ratings_table(session, group.id, filters, listed), k),
        segments=release(segments_table(session, group.id, filters, tree, k, locale), k),
        trends={
            name: release(trend_table(session, group.id, filters, model, name), k)
            for name, model in TREND_KINDS.items()
        },
    )


def _release_together(
    pages: dict[Filters, Figures], outside: Figures | None, whole: Figures, k: int
):
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
            page_rows = [rows_by_key(page.comparable()[index]) for page in pages.values()]
            outside_rows = rows_by_key(outside.comparable()[index]) if outside else {}
            for key, whole_row in rows_by_key(whole_table).items():
                cells = [rows[key] for rows in page_rows if key in rows]
                rest = outside_rows.get(key)
                rest_cell = Row(
                    key="~outside",
                    label="",
                    members=rest.members if rest else 0,
                    suppressed=Suppressed.TOO_FEW,
                )
                stand_ins = [
                    Row(key=cell.key, label="", members=cell.members, suppressed=cell.suppressed)
                    for cell in cells
                ]
                parent = Row(
                    key=key,
                    label="",
                    members=whole_row.members,
                    suppressed=whole_row.suppressed,
                    children=[*stand_ins, rest_cell],
                )
                release(Table("together", [parent]), k)
                for cell, stand_in in zip(cells, stand_ins, strict=True):
                    if cell.released and not stand_in.released:
                        cell.suppressed = Suppressed.COMPLEMENT
                        changed = True
        if changed:
            for page in pages.values():
                for table in page.comparable():
                    release(table, k)


def _add_noise(session: Session, group, pages: list[Figures]) -> None:
    """Every release with noise spends epsilon per figure it touched (sequential composition).

    The group's budget counter shows the total, kept in SQL so that
    concurrent page views all count.
    """
    epsilon = Fraction(group.noise_epsilon_milli, 1000)
    touched = 0
    for figures in pages:
        touched += add_noise(figures.tables(), epsilon)
        figures.noise_epsilon = epsilon
    session.execute(
        update(Group)
        .where(Group.id == group.id)
        .values(
            privacy_budget_spent_milli=Group.privacy_budget_spent_milli
            + group.noise_epsilon_milli * touched
        )
    )
    session.refresh(group, ["privacy_budget_spent_milli"])


def _top_brands(table: Table) -> None:
    table.rows = table.rows[:TOP_ROWS]


def filter_pages(
    session: Session, group, filters: Filters, tree: CategoryTree, locale: str
) -> dict[Filters, Figures]:
    """The figures of ``filters``' page and of every other value of the same filter, released.

    The pages of one filter are released together (``_release_together``):
    checked one at a time against the whole page, Bilbao and Getxo could
    still be subtracted from it together. The whole page comes with them.
    """
    k = group.k_anonymity
    whole = _compute(session, group, Filters(), tree, locale, TOP_ROWS, None)
    pages = {Filters(): whole}
    if filters.active:
        offered = offered_filters(session, group, tree, filters.dimension)
        if filters not in offered:
            raise ValueError(f"{filters} is not offered")
        listed = [int(row.key) for row in whole.ratings.rows if row.key.isdigit()]
        # Every company, so that all pages' cells are known; the lists are cut after release.
        filtered = {
            page: _compute(session, group, page, tree, locale, None, listed) for page in offered
        }
        # Top categories cover everything: nothing lies outside them.
        outside = (
            None
            if filters.dimension == "category"
            else _compute(
                session, group, Filters(outside=tuple(offered)), tree, locale, None, listed
            )
        )
        _release_together(filtered, outside, whole, k)
        for figures in filtered.values():
            _top_brands(figures.brands)
        pages.update(filtered)
    for figures in pages.values():
        _withhold_derived_ratings(figures.ratings)
    if group.noise_epsilon_milli:
        _add_noise(session, group, list(pages.values()))
    return pages


def group_figures(
    session: Session, group, filters: Filters, tree: CategoryTree, locale: str
) -> Figures:
    """Every figure of the analytics page, released with the group's k."""
    return filter_pages(session, group, filters, tree, locale)[filters]
