"""Released figures as the rows and cells a person reads: the page and its CSV share them."""

import csv
import io
from dataclasses import dataclass, field

from babel.numbers import format_decimal
from flask_babel import lazy_gettext as _l

from tecopio.analytics.queries import BUDGET_CURRENCY, Figures
from tecopio.analytics.release import Row, Table
from tecopio.categories.services import CategoryTree
from tecopio.memberdata.vocab import UNITS, VALUES
from tecopio.money import format_money
from tecopio.text import spreadsheet_safe

# One label for every hidden row: telling rows hidden as complements (k members or
# more) from rows on too few would let "total − shown − k" pin a small row down.
HIDDEN_LABEL = _l("hidden to protect members' privacy")


@dataclass
class DisplayRow:
    label: str
    depth: int
    cells: list[str]
    bar: int | None  # the number the chart draws; None when hidden
    hidden: str | None = None  # why the row is hidden


@dataclass
class Figure:
    name: str
    title: str
    columns: list[str]
    rows: list[DisplayRow] = field(default_factory=list)
    note: str | None = None

    @property
    def bar_max(self) -> int:
        return max([row.bar for row in self.rows if row.bar] or [1])


def _number(value, locale) -> str:
    return "" if value is None else format_decimal(value, locale=locale)


def _display(
    table: Table, locale: str, cells, bar_of, depth_limit: int = 1, every_child_shown: bool = False
) -> list[DisplayRow]:
    """Rows as shown: released ones in the table's order, then hidden ones by label.

    Hidden rows are left out entirely: the label of one on too few members
    (a company, a sub-category, a month, a value) would tell that one to k−1
    members are there, and one hidden as a complement, listed apart, would
    be known to rest on k or more. ``every_child_shown``: children that
    always exist, empty or not (the five stars of a rating), are all listed,
    hidden ones alike, so that the absence of one never tells anything.
    """
    rows = []

    def shown(row: Row) -> bool:
        return row.released

    def bar(row: Row):
        measure = bar_of(row)  # withheld with noise on: the count of members instead
        return measure if measure is not None else row.values.get("members")

    def add(row: Row, depth: int):
        hidden = str(HIDDEN_LABEL) if row.suppressed else None
        rows.append(
            DisplayRow(
                label=row.label,
                depth=depth,
                cells=[] if hidden else cells(row),
                bar=None if hidden else bar(row),
                hidden=hidden,
            )
        )
        if depth < depth_limit:
            for child in row.children:
                if every_child_shown or shown(child):
                    add(child, depth + 1)

    top = [row for row in table.rows if shown(row)]
    for row in [r for r in top if r.released] + sorted(
        (r for r in top if not r.released), key=lambda r: r.label
    ):
        add(row, 0)
    # A hidden total with nothing else shown would tell 1..k−1 members from none: the
    # figure then reads as empty, as it does with no data at all.
    if table.total is not None and table.total_shown and (table.total.released or rows):
        total = table.total
        total.label = str(_l("All categories"))
        add(total, 0)
    return rows


def localise(figures: Figures, tree: CategoryTree, locale: str) -> Figures:
    """Give a release's rows their labels in ``locale`` (releases are stored language-neutral)."""

    def category(slug: str) -> str:
        found = tree.by_slug.get(slug.removesuffix("-general"))
        return found.label(locale) if found else slug

    for table in (figures.demand, figures.preference_roots):
        for row in table.all_rows():
            row.label = category(row.key)
    for row in figures.preference_values.rows:
        slug, code = row.key.split(":", 1)
        row.label = f"{category(slug)} · {VALUES.get(code, code)}"
    for row in figures.brands.rows:
        slug, _stance, name = row.key.split(":", 2)
        row.label = f"{category(slug)} · {name}"
    for row in figures.ratings.rows:
        if row.key == "other-companies":
            row.label = str(_l("All other companies"))
    for row in figures.segments.rows:
        if row.released:
            row.values["categories"] = [category(slug) for slug in row.values["categories"]]
            row.values["values"] = [str(VALUES.get(code, code)) for code in row.values["values"]]
    return figures


def build_figures(figures: Figures, locale: str, *, admin: bool) -> list[Figure]:
    def money(value):
        return "" if value is None else format_money(value, BUDGET_CURRENCY, locale)

    def demand_cells(row: Row):
        v = row.values
        quantity = (
            f"{_number(v['quantity'], locale)} {UNITS.get(v['unit'], v['unit'])}"
            if v["unit"] and v["quantity"] is not None
            else "—"
        )
        return [
            _number(v["members"], locale),
            _number(v["intents"], locale),
            quantity,
            money(v["budget_p25"]),
            money(v["budget_median"]),
            money(v["budget_p75"]),
        ]

    def count_cells(row: Row, key="count"):
        return [_number(row.values["members"], locale), _number(row.values[key], locale)]

    def rating_cells(row: Row):
        v = row.values
        cells = [
            _number(v["members"], locale),
            _number(v["count"], locale),
            "" if v["average"] is None else _number(v["average"], locale),
            "" if v["nps"] is None else _number(v["nps"], locale),
        ]
        return cells + [_number(v.get("comments"), locale)] if admin else cells

    def bucket_cells(row: Row):
        cells = [_number(row.values["members"], locale), _number(row.values["count"], locale)]
        return cells + ["", ""] + ([""] if admin else [])

    result = [
        Figure(
            "demand",
            str(_l("Demand by category")),
            [
                str(c)
                for c in (
                    _l("Category"),
                    _l("Members"),
                    _l("Intents"),
                    _l("Total quantity"),
                    _l("Budget, 25th percentile"),
                    _l("Budget, median"),
                    _l("Budget, 75th percentile"),
                )
            ],
            _display(figures.demand, locale, demand_cells, lambda r: r.values["intents"]),
            note=str(_l("Budgets are the middle of each member's range, in euros.")),
        ),
        Figure(
            "windows",
            str(_l("When members intend to buy")),
            [str(_l("Quarter")), str(_l("Members")), str(_l("Intents"))],
            _display(
                figures.windows,
                locale,
                lambda r: count_cells(r, "intents"),
                lambda r: r.values["intents"],
            ),
        ),
        Figure(
            "values",
            str(_l("What matters, by category")),
            [str(_l("Category and value")), str(_l("Members")), str(_l("Share of importance (%)"))],
            _display(
                figures.preference_values,
                locale,
                lambda r: [
                    _number(r.values["members"], locale),
                    _number(r.values["share"], locale),
                ],
                lambda r: r.values["share"],
            ),
            note=str(_l("Each preference counts with its importance (1 to 5).")),
        ),
        Figure(
            "brands",
            str(_l("Companies members like or avoid")),
            [
                str(_l("Category and company")),
                str(_l("Members")),
                str(_l("Stance")),
                str(_l("Weight")),
            ],
            _display(
                figures.brands,
                locale,
                lambda r: [
                    _number(r.values["members"], locale),
                    str(_l("like") if r.values["stance"] == "like" else _l("avoid")),
                    _number(r.values["weight"], locale),
                ],
                lambda r: r.values["weight"],
            ),
            note=str(_l("The companies named most often.")),
        ),
        Figure(
            "ratings",
            str(_l("Ratings per company")),
            [
                str(c)
                for c in (
                    _l("Company or rating"),
                    _l("Members"),
                    _l("Ratings"),
                    _l("Average"),
                    _l("Net score"),
                )
            ]
            + ([str(_l("With written comments"))] if admin else []),
            _display(
                figures.ratings,
                locale,
                lambda r: rating_cells(r) if "average" in r.values else bucket_cells(r),
                lambda r: r.values["count"],
                every_child_shown=True,
            ),
            note=str(
                _l(
                    "Net score: share of 5-star ratings minus share of ratings of 3 or less. "
                    "Average and score are withheld when a rating is hidden."
                )
            ),
        ),
    ]
    result.append(
        Figure(
            "segments",
            str(_l("Segments: members with similar preferences")),
            [
                str(c)
                for c in (
                    _l("Segment"),
                    _l("Members"),
                    _l("Share of members (%)"),
                    _l("Main categories"),
                    _l("Main values"),
                )
            ],
            _display(
                figures.segments,
                locale,
                lambda r: [
                    _number(r.values["members"], locale),
                    _number(r.values["share"], locale),
                    ", ".join(r.values["categories"]),
                    ", ".join(r.values["values"]),
                ],
                lambda r: r.values["members"],
            ),
            note=str(
                _l(
                    "A segment is a set of members whose preferences look alike: what they "
                    "marked as important, compared member by member (k-means clustering). "
                    "Each rests on enough members to be shown, and the same data always "
                    "gives the same segments."
                )
            ),
        )
    )
    for name, title in (
        ("intents", _l("Intents per month")),
        ("preferences", _l("Preferences per month")),
        ("feedback", _l("Feedback per month")),
    ):
        result.append(
            Figure(
                f"trend-{name}",
                str(title),
                [str(_l("Month")), str(_l("Members")), str(_l("Items"))],
                _display(figures.trends[name], locale, count_cells, lambda r: r.values["count"]),
            )
        )
    return result


def figure_csv(figure: Figure) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*figure.columns, str(_l("Note"))])
    for row in figure.rows:
        label = ("  " * row.depth) + row.label
        # A hidden row's reason goes under "Note", its numbers left empty.
        cells = row.cells or [""] * (len(figure.columns) - 1)
        writer.writerow([spreadsheet_safe(cell) for cell in (label, *cells, row.hidden or "")])
    return out.getvalue()
