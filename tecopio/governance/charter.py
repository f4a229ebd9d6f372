"""A group's charter: its rules as validated data.

Every rule is declared once, in ``RULES``: where it sits in the charter's
JSON document, its type, its range or choices, its default and how it reads
in plain language. Validation, defaults, the charter page, the diff between
two versions and the form that proposes a change all read that one table,
so a new rule is one more line here (and, where the rule has a range,
nothing more).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l

ALL_CATEGORIES = "all"


class CharterError(ValueError):
    """A charter that breaks its schema; ``errors`` maps each rule's path to what is wrong."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Rule:
    path: str  # "section.name" in the JSON document
    kind: str  # "int", "bool", "choice" or "categories"
    default: Any
    label: Any  # lazy string: what the rule decides
    minimum: int | None = None
    maximum: int | None = None
    choices: Mapping[str, Any] = field(default_factory=dict)  # value -> lazy label
    unit: Callable[[int], str] | None = None  # how a number reads: 7 → "7 days"
    scale: int = 1  # stored as value × scale (thousandths), shown as a decimal

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]


SECTIONS = {
    "privacy": _l("Privacy"),
    "revenue": _l("Revenue"),
    "membership": _l("Membership"),
    "decisions": _l("Decisions"),
    "partners": _l("Partner companies"),
}
HOW = {"vote": _l("by a vote of the members"), "admins": _l("by the group's admins")}


def in_members(n: int) -> str:
    return ngettext("%(num)d member", "%(num)d members", n)


def in_percent(n: int) -> str:
    return gettext("%(value)s %%", value=n)


def in_days(n: int) -> str:
    return ngettext("%(num)d day", "%(num)d days", n)


def in_points(n: int) -> str:
    return ngettext("%(num)d point", "%(num)d points", n)


RULES: tuple[Rule, ...] = (
    Rule(
        "privacy.k_anonymity",
        "int",
        5,
        _l("Fewest members behind any figure members see"),
        minimum=3,
        maximum=1000,
        unit=in_members,
    ),
    Rule(
        "privacy.company_k",
        "int",
        10,
        _l("Fewest members behind any figure released to companies"),
        minimum=3,
        maximum=1000,
        unit=in_members,
    ),
    Rule(
        "privacy.categories",
        "categories",
        ALL_CATEGORIES,
        _l("Categories the group may add up"),
    ),
    Rule("privacy.noise", "bool", False, _l("Calibrated noise on counts")),
    Rule(
        "privacy.noise_epsilon_milli",
        "int",
        1000,
        _l("Noise parameter (epsilon; smaller means more noise)"),
        minimum=100,
        maximum=10_000,
        scale=1000,
    ),
    Rule(
        "revenue.reserve_percent",
        "int",
        10,
        _l("Share of revenue kept in the cooperative reserve"),
        minimum=0,
        maximum=100,
        unit=in_percent,
    ),
    Rule(
        "revenue.split",
        "choice",
        "equal",
        _l("How the rest is shared among members"),
        choices={
            "equal": _l("in equal parts"),
            "contribution": _l("by contribution points"),
            "commitment": _l("by commitment to the deal"),
        },
    ),
    Rule(
        "revenue.points_preference",
        "int",
        1,
        _l("Contribution points per preference"),
        minimum=0,
        maximum=100,
        unit=in_points,
    ),
    Rule(
        "revenue.points_intent",
        "int",
        2,
        _l("Contribution points per purchase intent"),
        minimum=0,
        maximum=100,
        unit=in_points,
    ),
    Rule(
        "revenue.points_feedback",
        "int",
        1,
        _l("Contribution points per piece of feedback"),
        minimum=0,
        maximum=100,
        unit=in_points,
    ),
    Rule(
        "revenue.points_commitment",
        "int",
        5,
        _l("Contribution points per commitment to a deal"),
        minimum=0,
        maximum=100,
        unit=in_points,
    ),
    Rule(
        "revenue.reserve_spending",
        "choice",
        "vote",
        _l("Who decides spending from the reserve"),
        choices=HOW,
    ),
    Rule(
        "membership.policy",
        "choice",
        "approval",
        _l("Who may join"),
        choices={
            "open": _l("anyone, at once"),
            "approval": _l("anyone who asks, once admitted"),
            "invitation": _l("only people invited by an admin"),
        },
    ),
    Rule(
        "membership.admission",
        "choice",
        "admins",
        _l("Who admits people who ask to join"),
        choices=HOW,
    ),
    Rule(
        "decisions.quorum_percent",
        "int",
        20,
        _l("Quorum: share of active members who must vote"),
        minimum=0,
        maximum=100,
        unit=in_percent,
    ),
    Rule(
        "decisions.pass_percent",
        "int",
        50,
        _l("Share of votes a proposal needs to pass (more than this)"),
        minimum=0,
        maximum=99,
        unit=in_percent,
    ),
    Rule(
        "decisions.count_abstentions",
        "bool",
        False,
        _l("Abstentions count among the votes cast"),
    ),
    Rule(
        "decisions.show_tally",
        "bool",
        False,
        _l("Members see how the vote stands while it is open"),
    ),
    Rule(
        "decisions.voting_days",
        "int",
        7,
        _l("Voting period"),
        minimum=1,
        maximum=60,
        unit=in_days,
    ),
    Rule(
        "decisions.charter_changes",
        "choice",
        "admins",
        _l("Who changes this charter"),
        choices=HOW,
    ),
    Rule(
        "partners.sectors",
        "categories",
        ALL_CATEGORIES,
        _l("Sectors of the companies the group deals with"),
    ),
    Rule(
        "partners.publish_offers",
        "choice",
        "admins",
        _l("Who publishes the group's demand offers"),
        choices=HOW,
    ),
    Rule(
        "partners.accept_bids",
        "choice",
        "vote",
        _l("Who accepts a company's bid (or none)"),
        choices=HOW,
    ),
    Rule(
        "partners.commitment_days",
        "int",
        14,
        _l("Time members have to commit to a deal"),
        minimum=3,
        maximum=90,
        unit=in_days,
    ),
)
BY_PATH = {rule.path: rule for rule in RULES}


def _cross_checks(values: dict) -> dict[str, str]:
    errors = {}
    if values["privacy.company_k"] < values["privacy.k_anonymity"]:
        errors["privacy.company_k"] = str(
            _l("This must not be below the number for figures members see.")
        )
    return errors


def _check(rule: Rule, value, category_slugs: frozenset[str]):
    """The value, typed; raises ValueError with a message a person can act on."""
    if rule.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(str(_l("Choose yes or no.")))
        return value
    if rule.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(str(_l("Enter a whole number.")))
        if not rule.minimum <= value <= rule.maximum:
            raise ValueError(
                str(
                    _l(
                        "Enter a number from %(min)s to %(max)s.",
                        min=f"{rule.minimum / rule.scale:g}",
                        max=f"{rule.maximum / rule.scale:g}",
                    )
                )
            )
        return value
    if rule.kind == "choice":
        if value not in rule.choices:
            raise ValueError(str(_l("Not one of the choices.")))
        return value
    if value == ALL_CATEGORIES:
        return value
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(v, str) for v in value)
    ):
        raise ValueError(str(_l("Choose at least one category.")))
    unknown = sorted(set(value) - category_slugs)
    if unknown:
        raise ValueError(str(_l("Unknown category: %(slugs)s.", slugs=", ".join(unknown))))
    return sorted(set(value))


@dataclass(frozen=True)
class Charter:
    """One version's rules, complete and valid; read them as ``charter["privacy.k_anonymity"]``."""

    values: Mapping[str, Any]
    number: int = 0  # the version it comes from (0: not stored)

    def __getitem__(self, path: str):
        return self.values[path]

    @property
    def k_anonymity(self) -> int:
        return self["privacy.k_anonymity"]

    @property
    def company_k(self) -> int:
        return self["privacy.company_k"]

    @property
    def noise_epsilon_milli(self) -> int | None:
        """Epsilon in thousandths when noise is on, else None."""
        return self["privacy.noise_epsilon_milli"] if self["privacy.noise"] else None

    @property
    def membership_policy(self) -> str:
        return self["membership.policy"]

    def allows_category(self, slug: str) -> bool:
        chosen = self["privacy.categories"]
        return chosen == ALL_CATEGORIES or slug in chosen

    def deals_with_sector(self, slug: str | None) -> bool:
        """Whether the group deals with companies of this sector (None: no sector given)."""
        chosen = self["partners.sectors"]
        return chosen == ALL_CATEGORIES or (slug is not None and slug in chosen)

    def document(self) -> dict:
        """The JSON document stored for this version: sections of rules."""
        document: dict = {}
        for rule in RULES:
            value = self.values[rule.path]
            section, name = rule.path.split(".", 1)
            document.setdefault(section, {})[name] = (
                list(value) if isinstance(value, tuple) else value
            )
        return document


def flatten(document: Mapping) -> dict:
    """{"privacy": {"k_anonymity": 5}} -> {"privacy.k_anonymity": 5}; unknown keys kept."""
    flat = {}
    for section, rules in document.items():
        if isinstance(rules, Mapping):
            for name, value in rules.items():
                flat[f"{section}.{name}"] = value
        else:
            flat[section] = rules
    return flat


def validate(values: Mapping[str, Any], category_slugs) -> Charter:
    """A complete charter from flat values (missing rules take their defaults).

    ``category_slugs``: the top-level categories that exist; None accepts the
    categories the values already name (re-validating a stored version).
    Raises CharterError listing every rule that is wrong; unknown rules are
    refused too, so that a typo never passes as a rule nobody reads.
    """
    errors = {path: str(_l("Not a rule of the charter.")) for path in values if path not in BY_PATH}
    if category_slugs is None:
        category_slugs = frozenset(
            slug
            for rule in RULES
            if rule.kind == "categories"
            and isinstance(chosen := values.get(rule.path), list | tuple)
            for slug in chosen
        )
    typed = {}
    for rule in RULES:
        try:
            typed[rule.path] = _check(rule, values.get(rule.path, rule.default), category_slugs)
        except ValueError as error:
            errors[rule.path] = str(error)
    if not errors:
        errors = _cross_checks(typed)
    if errors:
        raise CharterError(errors)
    for rule in RULES:
        if rule.kind == "categories" and isinstance(typed[rule.path], list):
            typed[rule.path] = tuple(typed[rule.path])
    return Charter(MappingProxyType(typed))


def defaults() -> Charter:
    return validate({}, frozenset())


def plain_value(rule: Rule, value, category_labels: Callable[[str], str]) -> str:
    """How a rule's value reads on the charter page."""
    if rule.kind == "bool":
        return str(_l("yes") if value else _l("no"))
    if rule.kind == "choice":
        return str(rule.choices[value])
    if rule.kind == "categories":
        if value == ALL_CATEGORIES:
            return str(
                _l("every sector") if rule.path == "partners.sectors" else _l("all categories")
            )
        return ", ".join(category_labels(slug) for slug in value)
    if rule.scale != 1:
        return f"{value / rule.scale:g}"
    return rule.unit(value) if rule.unit else str(value)


def diff(old: Charter, new: Charter) -> list[tuple[Rule, Any, Any]]:
    """The rules whose values differ, in the table's order: (rule, old value, new value)."""
    return [
        (rule, old[rule.path], new[rule.path]) for rule in RULES if old[rule.path] != new[rule.path]
    ]
