from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, URLField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, ValidationError

from tecopio.directory.services import NAME_MAX, clean_company_name
from tecopio.forms import NOT_A_CHOICE, PlainLine
from tecopio.text import InvalidText


def company_choices(companies) -> list[SelectChoice]:
    return [SelectChoice(str(company.id), company.name) for company in companies]


class CompanyName(PlainLine):
    """One plain line that a spreadsheet will not take for a formula."""

    def __init__(self):
        super().__init__(NAME_MAX)

    def __call__(self, form, field):
        try:
            field.data = clean_company_name(field.data)
        except InvalidText as exc:
            raise ValidationError(str(exc.message)) from exc


class CompanyForm(FlaskForm):
    name = StringField(_l("Name of the company or brand"), validators=[CompanyName()])
    website = URLField(_l("Website"), description=_l("Optional, e.g. https://example.com"))
    sector_id = SelectField(
        _l("Sector"), coerce=lambda v: int(v) if v else None, invalid_choice_message=NOT_A_CHOICE
    )


def _company_id(value):
    return int(value) if value not in (None, "") else None


class MergeForm(FlaskForm):
    """Both selects start empty (or on the company the operator came from), never on one entry."""

    source_id = SelectField(
        _l("Duplicate to merge away"),
        coerce=_company_id,
        validators=[InputRequired(_l("Choose the duplicate."))],
        invalid_choice_message=NOT_A_CHOICE,
    )
    target_id = SelectField(
        _l("Entry to keep"),
        coerce=_company_id,
        validators=[InputRequired(_l("Choose the entry to keep."))],
        invalid_choice_message=NOT_A_CHOICE,
    )

    def set_companies(self, companies) -> None:
        choices = [SelectChoice("", _l("Choose a company…"))] + company_choices(companies)
        self.source_id.choices = choices
        self.target_id.choices = choices

    def validate_target_id(self, field):
        if field.data is not None and field.data == self.source_id.data:
            raise ValidationError(_l("The entry to keep must be another company."))
