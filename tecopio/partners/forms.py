from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField, TextAreaField, URLField
from wtforms.validators import DataRequired, Email, Length

from tecopio.directory.services import NAME_MAX, WEBSITE_MAX
from tecopio.forms import TOO_LONG, PlainLine, PlainParagraphs
from tecopio.partners.services import DESCRIPTION_MAX


class CompanyDetailsForm(FlaskForm):
    description = TextAreaField(
        _l("Description"),
        description=_l("What the company offers, where it works. Members read it. Plain text."),
        validators=[PlainParagraphs(DESCRIPTION_MAX)],
    )
    website = URLField(
        _l("Website"),
        description=_l("Starting with https:// (optional)."),
        validators=[Length(max=WEBSITE_MAX, message=TOO_LONG)],
    )
    contact_email = EmailField(
        _l("Contact email"),
        description=_l("Where groups and the platform's operator reach the company."),
        validators=[
            DataRequired(_l("Enter an email address.")),
            Email(_l("Enter a valid email address.")),
            Length(max=254, message=TOO_LONG),
        ],
    )


class RegisterCompanyForm(CompanyDetailsForm):
    name = StringField(
        _l("Company name"),
        description=_l(
            "As members know it. If the directory already lists it, the account is linked to "
            "that entry."
        ),
        validators=[PlainLine(NAME_MAX)],
    )


class StaffInviteForm(FlaskForm):
    email = EmailField(
        _l("Colleague's email"),
        validators=[
            DataRequired(_l("Enter an email address.")),
            Email(_l("Enter a valid email address.")),
            Length(max=254, message=TOO_LONG),
        ],
    )
