"""Money: integers in minor units with an ISO 4217 currency code. Never floats."""

import re
from decimal import Decimal

from babel.numbers import format_currency
from flask_babel import lazy_gettext as _l

# Currencies members may use, with their number of decimal places.
CURRENCIES = {"EUR": 2, "GBP": 2, "USD": 2}
MAX_MINOR = 10**12  # ten billion euros: far above any household budget
_AMOUNT = re.compile(r"(\d+)(?:[.,](\d+))?", re.ASCII)


class InvalidAmount(ValueError):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def to_minor_units(text: str, currency: str) -> int:
    """Parse what a person typed ("12", "12.5", "12,50") into minor units (1250)."""
    if currency not in CURRENCIES:
        raise InvalidAmount(_l("Unknown currency."))
    cleaned = re.sub(r"[\s\u00a0]", "", text or "")
    if cleaned.startswith("-"):
        raise InvalidAmount(_l("The amount cannot be negative."))
    # Digits with at most one decimal mark ("." or ","). Thousands separators are
    # refused rather than guessed: "1,000" could mean one thousand or one.
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        raise InvalidAmount(
            _l("Enter an amount such as 120 or 120.50, without thousands separators.")
        )
    whole, fraction = match.group(1), match.group(2) or ""
    exponent = CURRENCIES[currency]
    if len(fraction) == 3 and exponent < 3:
        raise InvalidAmount(
            _l("Enter an amount such as 120 or 120.50, without thousands separators.")
        )
    if len(fraction) > exponent:
        raise InvalidAmount(_l("Use at most %(n)d decimal places.", n=exponent))
    if len(whole.lstrip("0")) > 13:
        raise InvalidAmount(_l("This amount is too large."))
    minor = int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or 0)
    if minor > MAX_MINOR:
        raise InvalidAmount(_l("This amount is too large."))
    return minor


def from_minor_units(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-CURRENCIES[currency])


def format_money(minor: int, currency: str, locale: str = "en") -> str:
    return format_currency(from_minor_units(minor, currency), currency, locale=locale)


def plain_amount(minor: int, currency: str) -> str:
    """The amount as a form field shows it: "120.50"."""
    return f"{from_minor_units(minor, currency):f}"
