from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    EmailField,
    IntegerField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from tecopio.forms import NOT_A_CHOICE, TOO_LONG, PlainLine, PlainParagraphs
from tecopio.groups.models import DEFAULT_COMPANY_K, DEFAULT_K, MAX_K, MIN_K, MembershipPolicy
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


class GroupForm(FlaskForm):
    """Name, description, region and joining rule (creating a group)."""

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
    membership_policy = RadioField(
        _l("Who may join"),
        choices=POLICY_CHOICES,
        default=MembershipPolicy.APPROVAL.value,
        invalid_choice_message=NOT_A_CHOICE,
        validators=[DataRequired(_l("Choose how people join."))],
    )


class PrivacySettingsMixin:
    k_anonymity = IntegerField(
        _l("Fewest members behind a figure"),
        description=_l("Analytics hide any number resting on fewer members (at least 3)."),
        default=DEFAULT_K,
        validators=[
            InputRequired(_l("Enter a number.")),
            NumberRange(MIN_K, MAX_K, _l("Enter a number from %(min)d to %(max)d.")),
        ],
    )
    company_k = IntegerField(
        _l("Fewest members behind a figure shown to companies"),
        description=_l("Never below the number above."),
        default=DEFAULT_COMPANY_K,
        validators=[
            InputRequired(_l("Enter a number.")),
            NumberRange(MIN_K, MAX_K, _l("Enter a number from %(min)d to %(max)d.")),
        ],
    )

    noise = BooleanField(_l("Add calibrated noise to counts"))
    epsilon = DecimalField(
        _l("Noise parameter (epsilon)"),
        description=_l("From 0.1 to 10. Smaller means more noise and more privacy."),
        default=Decimal("1"),
        validators=[
            Optional(),
            NumberRange(Decimal("0.1"), Decimal("10"), _l("Enter a number from 0.1 to 10.")),
        ],
    )

    def validate_company_k(self, field):
        if self.k_anonymity.data and field.data is not None and field.data < self.k_anonymity.data:
            raise ValidationError(_l("This must not be below the number for members."))


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


class GroupSettingsForm(GroupForm, PrivacySettingsMixin):
    """Everything an admin may change, privacy thresholds included."""
