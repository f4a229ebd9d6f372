from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from tecopio.forms import PlainParagraphs
from tecopio.money import InvalidAmount, to_minor_units


class AmountForm(FlaskForm):
    """An amount typed as a person writes it ("120", "120,50"), read in one currency."""

    amount = StringField(
        _l("Amount"), validators=[InputRequired(_l("Enter the amount.")), Length(max=30)]
    )

    def minor_units(self, currency: str) -> int | None:
        """The amount in minor units, or None with the error on the field."""
        try:
            value = to_minor_units(self.amount.data or "", currency)
        except InvalidAmount as error:
            self.amount.errors = [*self.amount.errors, str(error.message)]
            return None
        if value <= 0:
            self.amount.errors = [
                *self.amount.errors,
                str(_l("Enter an amount greater than zero.")),
            ]
            return None
        return value


class PaymentForm(AmountForm):
    amount = StringField(
        _l("Amount received"),
        validators=[InputRequired(_l("Enter the amount received.")), Length(max=30)],
    )
    reference = StringField(
        _l("Bank reference"),
        description=_l("As your bank statement shows the transfer, so that anyone can trace it."),
        validators=[InputRequired(_l("Enter the bank reference.")), Length(max=200)],
    )


class PayoutForm(AmountForm):
    amount = StringField(
        _l("Amount to pay out"),
        validators=[InputRequired(_l("Enter the amount to pay out.")), Length(max=30)],
    )
    pay_to = StringField(
        _l("Where to pay it"),
        description=_l("Your bank account (IBAN). Only the group's admins see it."),
        validators=[InputRequired(_l("Enter your bank account.")), Length(max=200)],
    )


class ProviderPayoutForm(AmountForm):
    """A payout sent by the payment service, to the member's payout account there."""

    amount = StringField(
        _l("Amount to pay out"),
        validators=[InputRequired(_l("Enter the amount to pay out.")), Length(max=30)],
    )


class PayoutPaidForm(FlaskForm):
    reference = StringField(
        _l("Bank reference of the transfer"),
        validators=[InputRequired(_l("Enter the bank reference.")), Length(max=200)],
    )


class PlainForm(FlaskForm):
    """A button: only the CSRF token."""


class ReserveForm(AmountForm):
    amount = StringField(
        _l("Amount from the reserve"),
        validators=[InputRequired(_l("Enter the amount.")), Length(max=30)],
    )
    purpose = StringField(
        _l("What for"),
        description=_l("One line: what the group pays for, and to whom."),
        validators=[InputRequired(_l("Say what it is for.")), Length(max=200)],
    )
    pay_to = StringField(
        _l("Paid to"),
        description=_l("The recipient's name and bank account."),
        validators=[InputRequired(_l("Say whom it is paid to.")), Length(max=200)],
    )
    description = TextAreaField(_l("Why (optional)"), validators=[PlainParagraphs(5000)])
