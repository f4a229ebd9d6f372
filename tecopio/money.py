"""Money: integers in minor units with an ISO 4217 currency code. Never floats."""

from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency
from flask_babel import lazy_gettext as _l

# Currencies members may use, with their number of decimal places.
CURRENCIES = {"EUR": 2, "GBP": 2, "USD": 2}
MAX_MINOR = 10**12  # ten billion euros: far above any household budget


class InvalidAmount(ValueError):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def to_minor_units(text: str, currency: str) -> int:
    """Parse what a person typed ("12", "12.5", "12,50") into minor units (1250)."""
    if currency not in CURRENCIES:
        raise InvalidAmount(_l("Unknown currency."))
    cleaned = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as exc:
        raise InvalidAmount(_l("Enter an amount such as 120 or 120.50.")) from exc
    if not amount.is_finite():
        raise InvalidAmount(_l("Enter an amount such as 120 or 120.50."))
    if amount < 0:
        raise InvalidAmount(_l("The amount cannot be negative."))
    exponent = CURRENCIES[currency]
    minor = amount.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise InvalidAmount(_l("Use at most %(n)d decimal places.", n=exponent))
    if minor > MAX_MINOR:
        raise InvalidAmount(_l("This amount is too large."))
    return int(minor)


def from_minor_units(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-CURRENCIES[currency])


def format_money(minor: int, currency: str, locale: str = "en") -> str:
    return format_currency(from_minor_units(minor, currency), currency, locale=locale)


def plain_amount(minor: int, currency: str) -> str:
    """The amount as a form field shows it: "120.50"."""
    return f"{from_minor_units(minor, currency):f}"
