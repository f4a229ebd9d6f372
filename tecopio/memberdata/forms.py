from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from tecopio.db import today
from tecopio.forms import NOT_A_CHOICE, PlainParagraphs
from tecopio.memberdata.models import FeedbackVisibility
from tecopio.memberdata.services import DESCRIPTION_MAX, FEEDBACK_MAX, NOTE_MAX, QUANTITY_MAX
from tecopio.memberdata.vocab import UNITS, VALUES
from tecopio.money import CURRENCIES, InvalidAmount, to_minor_units

IMPORTANCE = [SelectChoice(str(n), str(n)) for n in range(1, 6)]


def category_choices(tree, locale: str) -> list[SelectChoice]:
    return [
        SelectChoice(str(category_id), label, optgroup=group)
        for category_id, label, group in tree.choices(locale)
    ]


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PreferenceForm(FlaskForm):
    category_id = SelectField(
        _l("Category"), coerce=int, invalid_choice_message=NOT_A_CHOICE, validate_choice=True
    )
    importance = RadioField(
        _l("How important is this to you?"),
        choices=IMPORTANCE,
        coerce=int,
        default=3,
        description=_l("1: a little, 5: very much."),
        invalid_choice_message=NOT_A_CHOICE,
    )
    values = CheckboxesField(
        _l("What matters to you here"),
        choices=[SelectChoice(code, label) for code, label in VALUES.items()],
        invalid_choice_message=NOT_A_CHOICE,
    )
    # Tick boxes, not a multiple select (no Ctrl-click); picker.js adds a search box.
    liked = CheckboxesField(
        _l("Companies or brands you like"), coerce=int, invalid_choice_message=NOT_A_CHOICE
    )
    avoided = CheckboxesField(
        _l("Companies or brands you avoid"), coerce=int, invalid_choice_message=NOT_A_CHOICE
    )
    note = TextAreaField(
        _l("Note"),
        description=_l("Only you see this note."),
        validators=[PlainParagraphs(NOTE_MAX)],
    )


class AmountField(StringField):
    """A decimal amount typed by a person; ``minor_units`` holds it as an integer."""

    minor_units: int | None = None


class IntentForm(FlaskForm):
    category_id = SelectField(_l("Category"), coerce=int, invalid_choice_message=NOT_A_CHOICE)
    description = TextAreaField(
        _l("What do you want to buy?"), validators=[PlainParagraphs(DESCRIPTION_MAX)]
    )
    quantity = IntegerField(
        _l("Quantity"),
        default=1,
        validators=[
            InputRequired(_l("Enter a quantity.")),
            NumberRange(1, QUANTITY_MAX, _l("Enter a quantity of at least 1.")),
        ],
    )
    unit = SelectField(
        _l("Unit"),
        choices=[SelectChoice(code, label) for code, label in UNITS.items()],
        invalid_choice_message=NOT_A_CHOICE,
    )
    currency = SelectField(
        _l("Currency"),
        choices=[SelectChoice(code, code) for code in CURRENCIES],
        default="EUR",
        invalid_choice_message=NOT_A_CHOICE,
    )
    budget_min = AmountField(_l("Budget from"), validators=[InputRequired(_l("Enter an amount."))])
    budget_max = AmountField(_l("Budget up to"), validators=[InputRequired(_l("Enter an amount."))])
    window_start = DateField(
        _l("From"), validators=[InputRequired(_l("Enter a date."))], default=today
    )
    window_end = DateField(_l("Until"), validators=[InputRequired(_l("Enter a date."))])

    def _amount(self, field):
        try:
            field.minor_units = to_minor_units(field.data, self.currency.data)
        except InvalidAmount as exc:
            raise ValidationError(str(exc.message)) from exc

    def validate_budget_min(self, field):
        self._amount(field)

    def validate_budget_max(self, field):
        self._amount(field)

    def validate(self, extra_validators=None):
        """Every field at once: the checks between two fields run even where a third is wrong
        (the service checks them again; these are the same words, said sooner)."""
        valid = super().validate(extra_validators)
        low, high = self.budget_min, self.budget_max
        amounts = (low.minor_units, high.minor_units)
        if not (low.errors or high.errors) and None not in amounts and amounts[0] > amounts[1]:
            high.errors.append(_l("The maximum budget must not be below the minimum."))
            valid = False
        start, end = self.window_start, self.window_end
        dates = (start.data, end.data)
        if not (start.errors or end.errors) and None not in dates and dates[0] > dates[1]:
            end.errors.append(_l("The window must not end before it starts."))
            valid = False
        return valid


class FeedbackForm(FlaskForm):
    company_id = SelectField(_l("Company"), coerce=int, invalid_choice_message=NOT_A_CHOICE)
    category_id = SelectField(
        _l("Category"),
        description=_l("Which of your groups' categories this feedback counts under."),
        coerce=lambda value: int(value) if value else None,
        invalid_choice_message=NOT_A_CHOICE,
    )
    rating = RadioField(
        _l("Rating"),
        choices=IMPORTANCE,
        coerce=int,
        description=_l("1: very bad, 5: excellent."),
        invalid_choice_message=NOT_A_CHOICE,
        validators=[InputRequired(_l("Choose a rating."))],
    )
    body = TextAreaField(
        _l("Your experience"),
        description=_l(
            "You may write **bold**, *italics*, lists (a line starting with - ) and links "
            "[like this](https://example.org). Other formatting is removed."
        ),
        validators=[PlainParagraphs(FEEDBACK_MAX)],
    )
    visibility = RadioField(
        _l("Who may count it"),
        choices=[
            SelectChoice(
                FeedbackVisibility.GROUP.value,
                _l("Only the groups I consent to, in their aggregates"),
            ),
            SelectChoice(
                FeedbackVisibility.PARTNERS.value,
                _l("Also partner companies, in aggregates of many members"),
            ),
        ],
        default=FeedbackVisibility.GROUP.value,
        invalid_choice_message=NOT_A_CHOICE,
    )
