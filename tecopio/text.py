"""Rules for short plain-text fields (names, regions): shared by forms and services."""

import re
import unicodedata

from flask_babel import lazy_gettext as _l

_MARKUP = re.compile(r"[<>]")


class InvalidText(ValueError):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def clean_line(value: str | None, *, max_length: int, required: bool = True) -> str:
    """Normalise one line of plain text, or raise ``InvalidText``.

    Markup characters are refused rather than silently stripped, so that
    what a person typed is never changed behind their back.
    """
    value = unicodedata.normalize("NFC", (value or "").strip())
    value = re.sub(r"\s+", " ", value)
    if required and not value:
        raise InvalidText(_l("This field is required."))
    if len(value) > max_length:
        raise InvalidText(_l("Use at most %(n)d characters.", n=max_length))
    if _MARKUP.search(value):
        raise InvalidText(_l("The characters < and > are not allowed here."))
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidText(_l("This text contains control characters."))
    if any(unicodedata.category(ch) == "Cf" for ch in value):
        # Direction overrides, zero-width and other invisible formatting
        # characters make a name look like another one, or reverse how it reads.
        raise InvalidText(
            _l(
                "This text contains invisible formatting characters "
                "(such as direction marks or zero-width spaces)."
            )
        )
    return value


def clean_paragraphs(value: str | None, *, max_length: int) -> str:
    """Multi-line plain text (shown escaped, so markup is harmless and kept as typed)."""
    value = unicodedata.normalize("NFC", (value or "").replace("\r\n", "\n").strip())
    if len(value) > max_length:
        raise InvalidText(_l("Use at most %(n)d characters.", n=max_length))
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
        raise InvalidText(_l("This text contains control characters."))
    return value


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


# A cell (or a part of one) starting with one of these is run as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A spreadsheet may split a cell where one of these stands, depending on its
# locale or import settings: what follows is then the start of a cell.
_FORMULA_AFTER_SEPARATOR = re.compile(r"([;,\t\r\n] *)([=+\-@])")


def spreadsheet_safe(value):
    """Text that a spreadsheet could run as a formula gets an apostrophe before the formula.

    The rule: every part of the text that could start a cell gets a ``'`` in
    front of it when it starts with ``= + - @``. A part starts at the beginning
    of the text (where a tab or carriage return also counts as a formula
    start) and after each ``;``, ``,``, tab or line break, spaces skipped: a
    spreadsheet that splits the file on another separator than ours starts a
    new cell there. So ``"=1+1"`` becomes ``"'=1+1"`` and ``"ok;=HYPERLINK(...)"``
    becomes ``"ok;'=HYPERLINK(...)"``; a list joined with ``;`` is thereby
    neutralised element by element. (An apostrophe before the whole cell alone
    would not do: it stays in the first part when the cell is split.)
    Anything else is returned unchanged.
    """
    if not isinstance(value, str):
        return value
    value = _FORMULA_AFTER_SEPARATOR.sub(r"\1'\2", value)
    if value.startswith(FORMULA_START):
        value = "'" + value
    return value


def first_free_slug(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``… : the first not in ``taken``."""
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
