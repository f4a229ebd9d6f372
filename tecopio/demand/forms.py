import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from tecopio.demand.bids import (
    CONDITIONS_MAX,
    COUNTER_MAX,
    REASON_MAX,
    STATED,
    STATEMENT_MAX,
    BidValues,
)
from tecopio.demand.deals import CommitmentValues
from tecopio.demand.services import CRITERIA, TERMS_MAX, TITLE_MAX, UNIT_MAX, WEIGHT_MAX
from tecopio.forms import NOT_A_CHOICE, PlainLine, PlainParagraphs
from tecopio.memberdata.forms import FeedbackForm
from tecopio.money import CURRENCIES, InvalidAmount, to_minor_units

PRICE_BASES = [
    ("unit", _l("a price per unit")),
    ("discount", _l("a discount on the company's list price")),
]

DEFAULT_TERMS = _l(
    "The company sees only the group's totals, never a member. It contacts members only "
    "about this deal, and only those who chose to share their contact details for it, once "
    "the deal goes ahead. No direct marketing to members outside the deal; no resale of "
    "these figures."
)
WEIGHT_HINT = _l("0 to 100: how much it counts when bids are compared.")


def _tiers(text: str | None) -> list:
    """ "30, 50" -> [30, 50]; something else comes back as the text, for the service to refuse."""
    parts = [part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()]
    found = []
    for part in parts:
        if not part.isdigit():
            return [part]
        found.append(int(part))
    return found


class OfferForm(FlaskForm):
    title = StringField(_l("Title"), validators=[PlainLine(TITLE_MAX)])
    category_id = SelectField(
        _l("Category"),
        coerce=int,
        description=_l("A top category and its sub-categories: what the offer's figures count."),
        validate_choice=False,
        validators=[InputRequired(_l("Choose a category."))],
    )
    terms = TextAreaField(
        _l("The group's terms"),
        description=_l("What a company may and may not do with this relationship. Plain text."),
        validators=[PlainParagraphs(TERMS_MAX)],
    )
    tipping_point = IntegerField(
        _l("Tipping point"),
        description=_l(
            "Fewest members who must commit for the deal to go ahead. Never below the charter's "
            "company minimum: the company learns how many committed."
        ),
        validators=[InputRequired(_l("Enter a whole number."))],
    )
    tiers = StringField(
        _l("Price tiers (optional)"),
        description=_l(
            "Numbers of committed members at which companies are asked for a lower price, "
            "e.g. 30, 50."
        ),
    )
    deadline = DateField(
        _l("Bids until"),
        description=_l("Companies may bid until the end of this day (UTC)."),
        validators=[InputRequired(_l("Enter a date."))],
    )
    price_basis = SelectField(
        _l("Companies quote"),
        choices=PRICE_BASES,
        default="unit",
        description=_l("Every bid quotes its price the same way, so that bids compare."),
        validate_choice=False,
    )
    unit_label = StringField(
        _l("What one unit is (optional)"),
        description=_l("For a price per unit, e.g. “one installed heat pump” or “one kWh”."),
        validators=[PlainLine(UNIT_MAX, required=False)],
    )
    currency = SelectField(
        _l("Currency"),
        choices=[(code, code) for code in CURRENCIES],
        default="EUR",
        validate_choice=False,
    )

    def weights(self) -> dict:
        return {key: self[f"weight_{key}"].data for key in CRITERIA}

    def values(self) -> dict:
        return {
            "title": self.title.data,
            "category_id": self.category_id.data,
            "terms": self.terms.data,
            "weights": self.weights(),
            "tipping_point": self.tipping_point.data,
            "tiers": _tiers(self.tiers.data),
            "deadline_day": self.deadline.data,
            "price_basis": self.price_basis.data,
            "currency": self.currency.data,
            "unit_label": self.unit_label.data,
        }

    def show_errors(self, errors: dict) -> None:
        for name, message in errors.items():
            if name == "deadline_day":
                name = "deadline"
            if name in self:
                self[name].errors = [*self[name].errors, message]
            else:
                self.form_errors.append(message)


for _key, _label in CRITERIA.items():
    setattr(
        OfferForm,
        f"weight_{_key}",
        IntegerField(
            _label,
            default=0,
            description=WEIGHT_HINT,
            validators=[
                InputRequired(_l("Enter a whole number.")),
                NumberRange(0, WEIGHT_MAX, _l("Enter a whole number from 0 to 100.")),
            ],
        ),
    )


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class InviteCompaniesForm(FlaskForm):
    partner_ids = CheckboxesField(
        _l("Companies to invite"),
        coerce=int,
        validate_choice=False,
        invalid_choice_message=NOT_A_CHOICE,
    )


PERCENT = re.compile(r"(\d{1,3})(?:[.,](\d{1,2}))?", re.ASCII)


def percent_to_basis_points(text: str) -> int:
    """ "12.5" (per cent) -> 1250; raises ValueError with a message for anything else."""
    match = PERCENT.fullmatch((text or "").strip().rstrip("%").strip())
    if match is None:
        raise ValueError(str(_l("Enter a percentage such as 12 or 12.5.")))
    whole, fraction = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(fraction)


class BidForm(FlaskForm):
    terms_answer = RadioField(
        _l("The group's terms"),
        choices=[
            ("accept", _l("We accept the group's terms as written")),
            ("counter", _l("We accept them with one counter-term")),
        ],
        validate_choice=False,
    )
    counter_term = TextAreaField(
        _l("Our counter-term"),
        description=_l("One change to the terms, in plain words. Leave empty if you accept them."),
        validators=[PlainParagraphs(COUNTER_MAX)],
    )
    currency = SelectField(
        _l("Currency"), choices=[(code, code) for code in CURRENCIES], validate_choice=False
    )
    price = StringField(_l("Price at the tipping point"))
    tier_prices = FieldList(StringField(), min_entries=0)
    fee_kind = RadioField(
        _l("Fee to the cooperative"),
        choices=[
            ("per_member", _l("per committed member")),
            ("fixed", _l("once, for the whole deal")),
        ],
        default="per_member",
        validate_choice=False,
    )
    fee = StringField(
        _l("Fee amount"),
        description=_l("What the company pays the cooperative if the deal goes ahead; 0 for none."),
    )
    conditions = TextAreaField(
        _l("Conditions"),
        description=_l("Payment, delivery or installation times, what is included. Plain text."),
        validators=[PlainParagraphs(CONDITIONS_MAX)],
    )
    warranty_months = IntegerField(
        _l("Warranty (months)"),
        default=0,
        validators=[InputRequired(_l("Enter a whole number."))],
    )
    statement_local = StringField(
        _l("Local"),
        description=_l("Where the company works from, who does the work."),
        validators=[PlainLine(STATEMENT_MAX, required=False)],
    )
    statement_renewable = StringField(
        _l("Renewable or sustainable"),
        description=_l("What makes the offer sustainable (sources, materials, certificates)."),
        validators=[PlainLine(STATEMENT_MAX, required=False)],
    )
    statement_service = StringField(
        _l("Service"),
        description=_l("Support after the sale: response times, who answers."),
        validators=[PlainLine(STATEMENT_MAX, required=False)],
    )
    valid_until = DateField(
        _l("Bid valid until"),
        description=_l("Prices hold until this day, while the group compares and decides."),
        validators=[InputRequired(_l("Enter a date."))],
    )

    def _amount(self, field, text: str, basis: str):
        try:
            if basis == "discount":
                return percent_to_basis_points(text)
            return to_minor_units(text, self.currency.data)
        except InvalidAmount as error:
            field.errors = [*field.errors, str(error.message)]
        except ValueError as error:
            field.errors = [*field.errors, str(error)]
        return None

    def bid_values(self, basis: str) -> BidValues | None:
        """What the service checks, or None when an amount could not be read (errors set)."""
        if self.currency.data not in CURRENCIES:
            self.currency.errors = [*self.currency.errors, str(_l("Unknown currency."))]
            return None
        price = self._amount(self.price, self.price.data, basis)
        tiers = [self._amount(entry, entry.data, basis) for entry in self.tier_prices]
        try:
            fee = to_minor_units(self.fee.data or "0", self.currency.data)
        except InvalidAmount as error:
            self.fee.errors = [*self.fee.errors, str(error.message)]
            fee = None
        if price is None or fee is None or None in tiers:
            return None
        return BidValues(
            terms_answer=self.terms_answer.data or "",
            counter_term=self.counter_term.data or "",
            currency=self.currency.data,
            price=price,
            tier_prices=tuple(tiers),
            fee_kind=self.fee_kind.data or "",
            fee=fee,
            conditions=self.conditions.data or "",
            warranty_months=self.warranty_months.data,
            statements={key: self[f"statement_{key}"].data or "" for key in STATED if key in SAID},
            valid_until=self.valid_until.data,
        )

    def show_errors(self, errors: dict) -> None:
        for name, message in errors.items():
            target = self._fields.get(name)
            if target is not None:
                target.errors = [*target.errors, message]
            else:
                self.form_errors.append(message)


SAID = ("local", "renewable", "service")


class DeclineForm(FlaskForm):
    reason = TextAreaField(
        _l("Why not (optional)"),
        description=_l("The group reads it; it helps it write better offers."),
        validators=[PlainParagraphs(REASON_MAX)],
    )


class ConfirmForm(FlaskForm):
    """A button that posts: only its CSRF token is checked."""


class AwardForm(FlaskForm):
    choice = RadioField(_l("The group's choice"), validate_choice=False)


CHOICE_ID = re.compile(r"[0-9]{1,9}")


class CommitForm(FlaskForm):
    """A member's commitment to a deal."""

    quantity = IntegerField(
        _l("How many"),
        validators=[InputRequired(_l("Enter a whole number."))],
    )
    max_quantity = IntegerField(
        _l("Up to (optional)"),
        description=_l("If you would take more at the deal's price; the company sees only totals."),
        validators=[Optional()],
    )
    tier = SelectField(_l("Only if"), validate_choice=False)
    intent_id = SelectField(_l("For which of your intents"), validate_choice=False)
    share_contact = BooleanField(
        _l("Share my name and email with the company for this deal, once it goes ahead"),
        description=_l("Only for this deal; you may change your mind at any time."),
    )

    def values(self) -> CommitmentValues | None:
        """What the service checks, or None when a choice could not be read (errors set)."""
        tier, intent = self.tier.data or "", self.intent_id.data or ""
        for field, text in ((self.tier, tier), (self.intent_id, intent)):
            if text and not CHOICE_ID.fullmatch(text):
                field.errors = [*field.errors, str(NOT_A_CHOICE)]
                return None
        return CommitmentValues(
            quantity=self.quantity.data,
            max_quantity=self.max_quantity.data,
            tier=int(tier) if tier else None,
            intent_id=int(intent) if intent else None,
            share_contact=bool(self.share_contact.data),
        )

    def show_errors(self, errors: dict) -> None:
        for name, message in errors.items():
            target = self._fields.get(name)
            if target is not None:
                target.errors = [*target.errors, message]
            else:
                self.form_errors.append(message)


class DealRatingForm(FeedbackForm):
    """A member's rating of a deal: feedback whose company and category are the deal's."""

    company_id = None
    category_id = None
