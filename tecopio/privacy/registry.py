"""What Tecopio keeps about a person, feature by feature: the one list export and erasure follow.

Each feature registers, from its ``init_app``, every kind of record it keeps
that refers to a person (``register_personal_data``): how to export it, what
erasure does to it, and how to say both in the person's language. The export
(``records.export_data``), erasure (``records.erase_account``) and the
erasure page all read this list, so none of them can hold, do or promise
less than the others; a test walks every table for rows that refer to a
person and finds each in the export.

The export comes in the order of registration (the account first). Erasure
runs in the reverse order, so that the account, registered first, is cleared
last, after the steps that still find the person's rows by their address.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from tecopio.accounts.models import User

# Keys of the export that are not sections.
RESERVED = frozenset({"exported_at", "about"})


@dataclass(frozen=True)
class PersonalData:
    """One kind of record about a person.

    ``export(session, user)`` returns a list of rows (or one row, for the
    account), each a dict with the ``id`` of its row in ``table``. It becomes
    a section of data.json and a CSV file named ``name``.

    ``erase(session, user)`` does what ``deleted`` and ``kept`` say: an entry
    with only ``deleted`` leaves none of its rows; one with only ``kept``
    leaves all of them, with nothing that names the person; one with both
    clears what names the person. ``withheld`` says what of these records is
    left out of the export, and why (secrets, other people's data).
    """

    name: str
    table: str
    title: Any  # lazy strings: translated when shown
    export: Callable[[Session, "User"], list[dict] | dict]
    erase: Callable[[Session, "User"], None] | None = None
    deleted: Any = None
    kept: Any = None
    withheld: Any = None


_registry: dict[str, PersonalData] = {}


def register_personal_data(
    name: str,
    *,
    table: str,
    title,
    export: Callable,
    erase: Callable | None = None,
    deleted=None,
    kept=None,
    withheld=None,
) -> PersonalData:
    """Add (or, for the same name, replace: apps may be created more than once) a contribution."""
    if name in RESERVED:
        raise ValueError(f"{name!r} is not a section name")
    if deleted is None and kept is None:
        raise ValueError(f"{name}: say what erasure does (deleted, kept or both)")
    if deleted is not None and erase is None:
        raise ValueError(f"{name}: what erasure deletes needs an erase function")
    entry = PersonalData(name, table, title, export, erase, deleted, kept, withheld)
    _registry[name] = entry
    return entry


def personal_data() -> list[PersonalData]:
    """Every contribution, in the order registered."""
    return list(_registry.values())


def iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def plain(value):
    """A column's value as JSON-ready data."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def columns_of(obj, *, skip: frozenset | set = frozenset()) -> dict:
    """Every column of a row but ``skip``: a column added later is exported without asking."""
    return {
        attr.key: plain(getattr(obj, attr.key))
        for attr in inspect(obj).mapper.column_attrs
        if attr.key not in skip
    }
