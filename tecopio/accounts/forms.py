from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, InputRequired, Length

from tecopio.accounts.passwords import MAX_LENGTH
from tecopio.accounts.services import DISPLAY_NAME_MAX, REGION_MAX
from tecopio.config import LANGUAGES
from tecopio.forms import NOT_A_CHOICE, TOO_LONG, AcceptablePassword, PlainLine

EMAIL_MAX = 254


def _email_field():
    return EmailField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter your email address.")),
            Length(max=EMAIL_MAX, message=TOO_LONG),
            Email(_l("Enter a valid email address."), check_deliverability=False),
        ],
        filters=[lambda value: value.strip().lower() if value else value],
    )


class SignupForm(FlaskForm):
    email = _email_field()
    display_name = StringField(_l("Display name"), validators=[PlainLine(DISPLAY_NAME_MAX)])
    password = PasswordField(
        _l("Password"),
        description=_l("At least 8 characters. A phrase of several words is easy to remember."),
        validators=[InputRequired(_l("Choose a password.")), AcceptablePassword("email")],
    )
    next = HiddenField()


class ConfirmSignupForm(FlaskForm):
    """The password chosen when signing up: whoever opens a link for an address they own
    cannot be handed an account someone else set the password of."""

    password = PasswordField(
        _l("The password you chose when signing up"),
        validators=[
            InputRequired(_l("Enter your password.")),
            Length(max=MAX_LENGTH, message=TOO_LONG),
        ],
    )


class LoginForm(FlaskForm):
    email = _email_field()
    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(_l("Enter your password.")),
            Length(max=MAX_LENGTH, message=TOO_LONG),
        ],
    )
    remember = BooleanField(_l("Remember me on this device"))
    next = HiddenField()


class ProfileForm(FlaskForm):
    display_name = StringField(_l("Display name"), validators=[PlainLine(DISPLAY_NAME_MAX)])
    region = StringField(
        _l("Region"),
        description=_l(
            "Town or district (optional). Your groups can see totals by region, "
            "only where many members share it."
        ),
        validators=[PlainLine(REGION_MAX, required=False)],
    )
    locale = SelectField(
        _l("Language"),
        choices=[SelectChoice("", _l("Same as my browser"))]
        + [SelectChoice(code, name) for code, name in LANGUAGES.items()],
        invalid_choice_message=NOT_A_CHOICE,
    )
    email_notifications = BooleanField(
        _l("Email me what waits on me"),
        description=_l(
            "When a vote opens, and a day before it closes if you have not voted; requests to "
            "join the groups you admin; the answer to your own requests."
        ),
    )


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[InputRequired(_l("Enter your current password."))]
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[InputRequired(_l("Choose a new password.")), AcceptablePassword()],
    )


class ResetRequestForm(FlaskForm):
    email = _email_field()


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[InputRequired(_l("Choose a new password.")), AcceptablePassword()],
    )
