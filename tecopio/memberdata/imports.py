"""Importing preferences or intents from a CSV file: all rows or none.

Each row goes through the same rules as the forms; a file with any bad row
stores nothing and every problem is reported with its line number.

One line of the file is one row: a cell cannot hold a line break. A quote
left open at the end of a line is therefore that line's error, instead of
the csv module quietly reading the next lines into the cell.
"""

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.categories.services import load_tree
from tecopio.directory.services import active_companies, normalise_company_name
from tecopio.memberdata import services
from tecopio.money import InvalidAmount, to_minor_units

MAX_ROWS = 5000

COLUMNS = {
    "preferences": ["category", "importance", "values", "liked", "avoided", "note"],
    "intents": [
        "category",
        "description",
        "quantity",
        "unit",
        "budget_min",
        "budget_max",
        "currency",
        "window_start",
        "window_end",
    ],
}
EXAMPLES = {
    "preferences": [
        ["energy-electricity", "5", "renewable;local", "", "", "Cooperative supplier if possible"],
        ["food-produce", "4", "organic;local;plastic_free", "", "", ""],
    ],
    "intents": [
        [
            "energy-solar",
            "Panels for a flat roof",
            "1",
            "unit",
            "3000",
            "6000",
            "EUR",
            "2027-03-01",
            "2027-09-30",
        ],
        [
            "telecom-broadband",
            "Fibre at home",
            "12",
            "month",
            "20",
            "35",
            "EUR",
            "2027-01-01",
            "2027-12-31",
        ],
    ],
}


@dataclass
class RowError:
    line: int
    message: str


class ImportFailed(Exception):
    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} problems")
        self.errors = errors


def template_csv(kind: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS[kind])
    writer.writerows(EXAMPLES[kind])
    return out.getvalue()


def _split(cell: str) -> list[str]:
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def _int(cell: str, field: str) -> int:
    try:
        return int((cell or "").strip())
    except ValueError as exc:
        raise services.InvalidItem(field, _l("Enter a whole number.")) from exc


def _date(cell: str, field: str) -> date:
    try:
        return date.fromisoformat((cell or "").strip())
    except ValueError as exc:
        raise services.InvalidItem(field, _l("Enter a date as YYYY-MM-DD.")) from exc


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class _UnreadableLine(Exception):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def _cells(line: str) -> list[str]:
    """The cells of one line of the file, or ``_UnreadableLine``."""
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error:
        pass
    try:
        # Read leniently with a line break added: a quote still open takes it in.
        unclosed = any("\n" in cell for cell in next(csv.reader([line + "\n"])))
    except csv.Error:
        unclosed = False
    if unclosed:
        raise _UnreadableLine(
            _l(
                "A quoted cell is not closed on this line. "
                "Close its quotes: a cell cannot run over several lines."
            )
        )
    raise _UnreadableLine(_l("This line cannot be read as CSV."))


def _lines(content: bytes, kind: str) -> tuple[list[str], list[tuple[int, str]]]:
    """The header's cells, and the other non-blank lines with their numbers (from 1)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed([RowError(1, str(_l("The file must be saved as UTF-8 CSV.")))]) from exc
    lines = _LINE_BREAK.split(text)
    try:
        header = _cells(lines[0]) if lines[0].strip() else []
    except _UnreadableLine as exc:
        raise ImportFailed([RowError(1, str(exc.message))]) from exc
    missing = [c for c in COLUMNS[kind] if c not in header]
    if missing:
        raise ImportFailed(
            [RowError(1, str(_l("Missing columns: %(columns)s", columns=", ".join(missing))))]
        )
    rows = [(number, line) for number, line in enumerate(lines[1:], start=2) if line.strip()]
    return header, rows


def import_csv(session: Session, user: User, kind: str, content: bytes, *, today=None) -> int:
    """Store every row of the file, or raise ``ImportFailed`` and store nothing.

    The caller runs this inside a transaction and rolls back on failure.
    """
    header, lines = _lines(content, kind)
    tree = load_tree(session)
    companies = {normalise_company_name(c.name): c.id for c in active_companies(session)}
    errors: list[RowError] = []
    stored = 0
    for line, text in lines:
        if stored + len(errors) >= MAX_ROWS:
            errors.append(
                RowError(line, str(_l("A file can hold at most %(n)d rows.", n=MAX_ROWS)))
            )
            break
        try:
            cells = _cells(text)
        except _UnreadableLine as exc:
            errors.append(RowError(line, str(exc.message)))
            continue
        if len(cells) > len(header):
            errors.append(RowError(line, str(_l("This row has more cells than the header."))))
            continue
        if len(cells) < len(header):
            errors.append(RowError(line, str(_l("This row has fewer cells than the header."))))
            continue
        row = dict(zip(header, cells, strict=True))
        try:
            category = tree.by_slug.get((row["category"] or "").strip())
            if category is None:
                raise services.InvalidItem("category", _l("Unknown category."))
            if kind == "preferences":
                names = {"liked": _split(row["liked"]), "avoided": _split(row["avoided"])}
                ids = {}
                for stance, stance_names in names.items():
                    unknown = [
                        n for n in stance_names if normalise_company_name(n) not in companies
                    ]
                    if unknown:
                        raise services.InvalidItem(
                            stance,
                            _l("Not in the directory: %(names)s", names=", ".join(unknown)),
                        )
                    ids[stance] = [companies[normalise_company_name(n)] for n in stance_names]
                services.new_preference(
                    session,
                    user,
                    category_id=category.id,
                    importance=_int(row["importance"], "importance"),
                    values=_split(row["values"]),
                    note=row["note"] or "",
                    liked=ids["liked"],
                    avoided=ids["avoided"],
                )
            else:
                currency = (row["currency"] or "").strip().upper()
                try:
                    budget_min = to_minor_units(row["budget_min"], currency)
                    budget_max = to_minor_units(row["budget_max"], currency)
                except InvalidAmount as exc:
                    raise services.InvalidItem("budget", exc.message) from exc
                services.new_intent(
                    session,
                    user,
                    today=today,
                    category_id=category.id,
                    description=row["description"] or "",
                    quantity=_int(row["quantity"], "quantity"),
                    unit=(row["unit"] or "").strip(),
                    budget_min=budget_min,
                    budget_max=budget_max,
                    currency=currency,
                    window_start=_date(row["window_start"], "window_start"),
                    window_end=_date(row["window_end"], "window_end"),
                )
            stored += 1
        except services.InvalidItem as exc:
            errors.append(RowError(line, f"{exc.field}: {exc.message}"))
    if errors:
        raise ImportFailed(errors)
    if stored == 0:
        raise ImportFailed([RowError(1, str(_l("The file has no rows to import.")))])
    record(session, "data.imported", actor=user, target_user=user, kind=kind, count=stored)
    session.flush()
    return stored
