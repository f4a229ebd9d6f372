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


def spreadsheet_safe(value):
    """Text a spreadsheet would run as a formula (=, +, -, @) gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
