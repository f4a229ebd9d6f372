from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField

from tecopio.forms import NOT_A_CHOICE

FILTER_KINDS = ("category", "region", "year")


def _optional_int(value):
    return int(value) if value not in (None, "") else None


class FilterForm(FlaskForm):
    """Read from the query string, so a filtered page has its own address (no CSRF needed).

    One filter at a time: two filters together would let their figures be
    subtracted from each other down to very few members.
    """

    class Meta:
        csrf = False

    category = SelectField(
        _l("Category"), default="", coerce=_optional_int, invalid_choice_message=NOT_A_CHOICE
    )
    region = SelectField(_l("Region"), default="", invalid_choice_message=NOT_A_CHOICE)
    year = SelectField(
        _l("Recorded in"), default="", coerce=_optional_int, invalid_choice_message=NOT_A_CHOICE
    )

    def validate(self, extra_validators=None):
        if not super().validate(extra_validators):
            return False
        chosen = [f for f in (self.category, self.region, self.year) if f.data not in (None, "")]
        if len(chosen) > 1:
            self.form_errors.append(_l("Choose one filter at a time."))
            return False
        return True
