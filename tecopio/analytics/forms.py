from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError

from tecopio.forms import NOT_A_CHOICE


class FilterForm(FlaskForm):
    """Read from the query string, so a filtered page has its own address (no CSRF needed)."""

    class Meta:
        csrf = False

    category = SelectField(
        _l("Category"),
        default="",
        coerce=lambda value: int(value) if value else None,
        invalid_choice_message=NOT_A_CHOICE,
    )
    region = SelectField(_l("Region"), default="", invalid_choice_message=NOT_A_CHOICE)
    start = DateField(_l("Recorded from"), validators=[Optional()])
    end = DateField(_l("Recorded until"), validators=[Optional()])

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("The end must not be before the start."))
