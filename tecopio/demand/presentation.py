"""A frozen offer's figures as a reader sees them, in their language."""

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_decimal
from flask_babel import gettext as _

from tecopio.analytics.queries import BUDGET_CURRENCY
from tecopio.memberdata.vocab import UNITS
from tecopio.money import format_money


@dataclass
class SnapshotRow:
    label: str
    hidden: bool
    cells: list[str]
    depth: int = 0


def _number(value, locale) -> str:
    return "—" if value is None else format_decimal(value, locale=locale)


def demand_rows(snapshot: dict, tree, locale: str) -> list[SnapshotRow]:
    by_slug = {category.slug: category for category in tree.by_id.values()}

    def label(key: str) -> str:
        if key == "total":
            return _("All of it")
        if key.endswith("-general"):
            category = by_slug.get(key.removesuffix("-general"))
            return (
                _("%(category)s, in general", category=category.label(locale)) if category else key
            )
        category = by_slug.get(key)
        return category.label(locale) if category else key

    def money(value) -> str:
        return "—" if value is None else format_money(int(value), BUDGET_CURRENCY, locale)

    rows: list[SnapshotRow] = []

    def add(row: dict, depth: int) -> None:
        if row.get("hidden"):
            rows.append(SnapshotRow(label(row["key"]), True, [], depth))
            return
        values = row.get("values", {})
        unit = values.get("unit")
        quantity = (
            f"{_number(values['quantity'], locale)} {UNITS.get(unit, unit)}"
            if unit and values.get("quantity") is not None
            else "—"
        )
        rows.append(
            SnapshotRow(
                label(row["key"]),
                False,
                [
                    _number(row.get("members"), locale),
                    _number(values.get("intents"), locale),
                    quantity,
                    money(values.get("budget_p25")),
                    money(values.get("budget_median")),
                    money(values.get("budget_p75")),
                ],
                depth,
            )
        )
        for child in row.get("children", []):
            add(child, depth + 1)

    for row in snapshot.get("demand", []):
        if row["key"] != "total":  # one category: its row is the total again
            add(row, 0)
    return rows


def window_rows(snapshot: dict, locale: str) -> list[SnapshotRow]:
    rows = []
    for row in snapshot.get("windows", []):
        if row["key"] == "total":
            continue
        year, _sep, quarter = row["key"].partition("-")
        label = _("%(quarter)s %(year)s", quarter=quarter, year=year)
        if row.get("hidden"):
            rows.append(SnapshotRow(label, True, []))
        else:
            rows.append(
                SnapshotRow(
                    label,
                    False,
                    [
                        _number(row.get("members"), locale),
                        _number(row["values"].get("intents"), locale),
                    ],
                )
            )
    return rows


def price_text(offer, value: int | None, locale: str) -> str:
    """A bid's price as the offer's basis reads: "€12.50" or "12.5 %" off."""
    if value is None:
        return "—"
    if offer.price_basis.value == "discount":
        percent = format_decimal(Decimal(value).scaleb(-2), locale=locale)
        return _("%(percent)s %% off", percent=percent)
    return format_money(value, offer.currency, locale)


def score_text(score, locale: str) -> str:
    """A score on 0-100, rounded for reading (the ranking uses the exact value)."""
    if score is None:
        return "—"
    return format_decimal(round(float(score), 1), format="#,##0.#", locale=locale)
