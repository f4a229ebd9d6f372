from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    Length,
)

from tecopio.forms import NOT_A_CHOICE, TOO_LONG, PlainLine, PlainParagraphs
from tecopio.groups.models import MembershipPolicy
from tecopio.groups.services import DESCRIPTION_MAX, NAME_MAX, REGION_MAX

POLICY_CHOICES = [
    SelectChoice(MembershipPolicy.OPEN.value, _l("Open: anyone may join at once")),
    SelectChoice(
        MembershipPolicy.APPROVAL.value, _l("Approval: people ask to join and an admin decides")
    ),
    SelectChoice(
        MembershipPolicy.INVITATION.value, _l("Invitation: only people invited by email may join")
    ),
]


class GroupDetailsForm(FlaskForm):
    """Name, description and region: what admins edit directly (rules are in the charter)."""

    name = StringField(_l("Name"), validators=[PlainLine(NAME_MAX)])
    description = TextAreaField(
        _l("Description"),
        description=_l("What the group is for, who may join, what it hopes to achieve."),
        validators=[PlainParagraphs(DESCRIPTION_MAX)],
    )
    region = StringField(
        _l("Region"),
        description=_l("Town, district or area the group serves (optional)."),
        validators=[PlainLine(REGION_MAX, required=False)],
    )


class GroupForm(GroupDetailsForm):
    """Starting a group: its details and the first rule of its charter, who may join."""

    membership_policy = RadioField(
        _l("Who may join"),
        choices=POLICY_CHOICES,
        default=MembershipPolicy.APPROVAL.value,
        invalid_choice_message=NOT_A_CHOICE,
        validators=[DataRequired(_l("Choose how people join."))],
    )


class InviteForm(FlaskForm):
    email = EmailField(
        _l("Email address to invite"),
        validators=[
            DataRequired(_l("Enter an email address.")),
            Length(max=254, message=TOO_LONG),
            Email(_l("Enter a valid email address."), check_deliverability=False),
        ],
        filters=[lambda value: value.strip().lower() if value else value],
    )
