from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, NumberRange
from wtforms.widgets import CheckboxInput, ListWidget

from tecopio.demand.services import CRITERIA, TERMS_MAX, TITLE_MAX, WEIGHT_MAX
from tecopio.forms import NOT_A_CHOICE, PlainLine, PlainParagraphs

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
