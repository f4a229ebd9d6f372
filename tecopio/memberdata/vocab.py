"""Fixed vocabularies: the values members care about and the units they buy in."""

from flask_babel import lazy_gettext as _l

VALUES = {
    "local": _l("Local"),
    "organic": _l("Organic"),
    "renewable": _l("Renewable"),
    "fair_trade": _l("Fair trade"),
    "repairable": _l("Repairable"),
    "recycled": _l("Recycled or second-hand"),
    "cooperative": _l("Cooperative or social economy"),
    "plastic_free": _l("Plastic-free"),
    "animal_welfare": _l("Animal welfare"),
    "accessible": _l("Accessible"),
    "low_price": _l("Low price"),
    "quality": _l("Quality and durability"),
}

UNITS = {
    "unit": _l("units"),
    "kg": _l("kg"),
    "litre": _l("litres"),
    "kwh": _l("kWh"),
    "contract": _l("contracts"),
    "month": _l("months of service"),
    "year": _l("years of service"),
    "hour": _l("hours"),
    "m2": _l("m²"),
}
