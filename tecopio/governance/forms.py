"""The form that changes a charter, built from the rules table: one field per rule."""

from decimal import Decimal

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from tecopio.forms import NOT_A_CHOICE, PlainLine, PlainParagraphs
from tecopio.governance.charter import (
    ALL_CATEGORIES,
    RULES,
    Charter,
    Rule,
    in_days,
    in_members,
    in_percent,
    in_points,
)
from tecopio.governance.charters import REASON_MAX
from tecopio.governance.decisions import COMMENT_MAX, DESCRIPTION_MAX, TITLE_MAX
from tecopio.governance.models import VoteChoice


def field_name(rule: Rule) -> str:
    return rule.path.replace(".", "__")


class _Scaled(StringField):
    """A decimal typed by a person, kept as an integer × scale (epsilon in thousandths)."""

    def __init__(self, *args, scale: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = scale

    def process_formdata(self, valuelist):
        self.data = None
        self.raw = valuelist[0].strip().replace(",", ".") if valuelist else ""
        if not self.raw:
            return
        try:
            value = Decimal(self.raw) * self.scale
            if value.is_finite() and value == value.to_integral_value():
                self.data = int(value)
        except ArithmeticError:  # InvalidOperation, Overflow: not a usable number
            return

    def process_data(self, value):
        self.data = value

    def _value(self):
        if getattr(self, "raw", None) is not None:
            return self.raw
        return "" if self.data is None else f"{self.data / self.scale:g}"

    def pre_validate(self, form):
        if self.data is None:
            raise ValidationError(_l("Enter a number."))


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


UNIT_WORDS = {
    in_members: _l("In members"),
    in_percent: _l("In %"),
    in_days: _l("In days"),
    in_points: _l("In points"),
}


def _range(rule: Rule) -> str | None:
    """What the number is counted in and which values the charter accepts: "In days, 1 to 60."."""
    unit = UNIT_WORDS.get(rule.unit)
    if rule.minimum is not None and rule.maximum is not None:
        limits = gettext("%(low)s to %(high)s", low=rule.minimum, high=rule.maximum)
        return gettext("%(unit)s, %(limits)s.", unit=unit, limits=limits) if unit else limits
    return f"{unit}." if unit else None


def _field(rule: Rule, category_choices):
    label, description = rule.label, _range(rule)
    if rule.kind == "int" and rule.scale != 1:
        return _Scaled(label, scale=rule.scale, description=description)
    if rule.kind == "int":
        return IntegerField(
            label,
            description=description,
            validators=[InputRequired(_l("Enter a whole number."))],
        )
    if rule.kind == "bool":
        return BooleanField(label)
    if rule.kind == "choice":
        return RadioField(
            label,
            choices=[SelectChoice(value, choice) for value, choice in rule.choices.items()],
            invalid_choice_message=NOT_A_CHOICE,
            validators=[InputRequired(_l("Choose one."))],
        )
    return CheckboxesField(
        label,
        choices=category_choices,
        description=CATEGORY_HINTS.get(rule.path, CATEGORY_HINTS["privacy.categories"]),
        invalid_choice_message=NOT_A_CHOICE,
    )


CATEGORY_HINTS = {
    "privacy.categories": _l("Leave every box empty to let the group add up all categories."),
    "partners.sectors": _l("Leave every box empty to deal with companies of every sector."),
}


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        _l("Why (shown in the charter's history)"),
        validators=[PlainParagraphs(REASON_MAX)],
    )


class ProposalForm(FlaskForm):
    title = StringField(_l("Title"), validators=[PlainLine(TITLE_MAX)])
    description = TextAreaField(
        _l("Description"),
        description=_l("What you propose and why. Plain text."),
        validators=[PlainParagraphs(DESCRIPTION_MAX)],
    )


def charter_form(category_choices: list[SelectChoice], charter: Charter, base=ReasonForm):
    """A form with one field per rule, showing ``charter`` until the person submits theirs."""

    class CharterForm(base):
        # The version the person saw: only the rules they changed from it are changes,
        # so a form left open while the charter changed does not undo that change.
        based_on = HiddenField()

        def changes(self, seen: Charter) -> dict:
            """The rules as typed that differ from ``seen``, by path (validated by the service)."""
            values = {}
            for rule in RULES:
                data = self[field_name(rule)].data
                if rule.kind == "categories":
                    data = sorted(data) if data else ALL_CATEGORIES
                    before = seen[rule.path]
                    before = before if before == ALL_CATEGORIES else sorted(before)
                else:
                    before = seen[rule.path]
                if data != before:
                    values[rule.path] = data
            return values

    for rule in RULES:
        setattr(CharterForm, field_name(rule), _field(rule, category_choices))
    data = {field_name(rule): charter[rule.path] for rule in RULES}
    data["based_on"] = str(charter.number)
    for rule in RULES:
        if rule.kind == "categories":
            chosen = charter[rule.path]
            data[field_name(rule)] = [] if chosen == ALL_CATEGORIES else list(chosen)
    return CharterForm(data=data)


class VoteForm(FlaskForm):
    choice = RadioField(
        _l("Your vote"),
        choices=[
            SelectChoice(VoteChoice.YES.value, _l("Yes")),
            SelectChoice(VoteChoice.NO.value, _l("No")),
            SelectChoice(VoteChoice.ABSTAIN.value, _l("Abstain")),
        ],
        invalid_choice_message=NOT_A_CHOICE,
        validators=[InputRequired(_l("Choose yes, no or abstain."))],
    )


class CommentForm(FlaskForm):
    body = TextAreaField(
        _l("Comment"),
        validators=[InputRequired(_l("Write your comment first.")), PlainParagraphs(COMMENT_MAX)],
    )
