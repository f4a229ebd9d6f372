"""Field validators shared by every feature's forms; they reuse the services' rules."""

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

from tecopio.accounts.passwords import PasswordRejected, check_password_policy
from tecopio.text import InvalidText, clean_line, clean_paragraphs

# WTForms' own messages for these have no Basque translation; ours do.
TOO_LONG = _l("Use at most %(max)d characters.")
NOT_A_CHOICE = _l("Choose one of the options.")


class PlainLine:
    """One line of plain text: trimmed, length-checked, no markup characters."""

    def __init__(self, max_length: int, required: bool = True):
        self.max_length = max_length
        self.required = required
        self.field_flags = {"required": True} if required else {}

    def __call__(self, form, field):
        try:
            field.data = clean_line(field.data, max_length=self.max_length, required=self.required)
        except InvalidText as exc:
            raise ValidationError(str(exc.message)) from exc


class PlainParagraphs:
    def __init__(self, max_length: int):
        self.max_length = max_length

    def __call__(self, form, field):
        try:
            field.data = clean_paragraphs(field.data, max_length=self.max_length)
        except InvalidText as exc:
            raise ValidationError(str(exc.message)) from exc


class AcceptablePassword:
    """The password policy; ``email_field`` names the form's email field, if any."""

    def __init__(self, email_field: str | None = None):
        self.email_field = email_field

    def __call__(self, form, field):
        email = form[self.email_field].data if self.email_field else None
        try:
            check_password_policy(field.data or "", email=email)
        except PasswordRejected as exc:
            raise ValidationError(str(exc.message)) from exc
