from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, PasswordField, RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired

from tecopio.forms import NOT_A_CHOICE


class EraseForm(FlaskForm):
    password = PasswordField(
        _l("Your password"), validators=[InputRequired(_l("Enter your password."))]
    )
    confirm = BooleanField(
        _l("I understand that this cannot be undone."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class ImportForm(FlaskForm):
    kind = RadioField(
        _l("What the file holds"),
        choices=[
            SelectChoice("preferences", _l("Preferences")),
            SelectChoice("intents", _l("Purchase intents")),
        ],
        default="preferences",
        invalid_choice_message=NOT_A_CHOICE,
    )
    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])
