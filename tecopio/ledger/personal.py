"""The money's part in a person's export and erasure (``tecopio/privacy/registry.py``).

Bookkeeping keeps the amounts: erasure takes the person's name off their balance
accounts and payouts, never an entry.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.ledger.models import LedgerAccount, Payment, Payout, PayoutAccount
from tecopio.ledger.services import balance_of
from tecopio.privacy.registry import iso, register_personal_data


def export_accounts(session: Session, user: User) -> list[dict]:
    found = session.scalars(
        select(LedgerAccount)
        .options(joinedload(LedgerAccount.group))
        .where(LedgerAccount.user_id == user.id)
        .order_by(LedgerAccount.id)
    )
    return [
        {
            "id": holder.id,
            "group": holder.group.name,
            "currency": holder.currency,
            "balance_minor_units": balance_of(session, holder.id),
            "opened_at": iso(holder.created_at),
        }
        for holder in found
    ]


def erase_accounts(session: Session, user: User) -> None:
    session.execute(
        update(LedgerAccount).where(LedgerAccount.user_id == user.id).values(user_id=None)
    )


def export_payouts(session: Session, user: User) -> list[dict]:
    found = session.scalars(
        select(Payout)
        .options(joinedload(Payout.group))
        .where((Payout.user_id == user.id) | (Payout.closed_by_id == user.id))
        .order_by(Payout.id)
    )
    return [
        {
            "id": payout.id,
            "group": payout.group.name,
            "number": payout.number,
            "yours": payout.user_id == user.id,
            "recorded_by_you": payout.closed_by_id == user.id,
            "amount_minor_units": payout.amount,
            "currency": payout.currency,
            "pay_to": payout.pay_to if payout.user_id == user.id else "",
            "status": payout.status.value,
            "asked_at": iso(payout.asked_at),
            "closed_at": iso(payout.closed_at),
        }
        for payout in found
    ]


def erase_payouts(session: Session, user: User) -> None:
    session.execute(update(Payout).where(Payout.user_id == user.id).values(user_id=None, pay_to=""))
    session.execute(update(Payout).where(Payout.closed_by_id == user.id).values(closed_by_id=None))


def export_payments(session: Session, user: User) -> list[dict]:
    found = session.scalars(
        select(Payment)
        .options(joinedload(Payment.invoice))
        .where(Payment.recorded_by_id == user.id)
        .order_by(Payment.id)
    )
    return [
        {
            "id": payment.id,
            "invoice": payment.invoice.number,
            "amount_minor_units": payment.amount,
            "currency": payment.currency,
            "reference": payment.reference,
            "recorded_at": iso(payment.created_at),
        }
        for payment in found
    ]


def erase_payments(session: Session, user: User) -> None:
    session.execute(
        update(Payment).where(Payment.recorded_by_id == user.id).values(recorded_by_id=None)
    )


def export_payout_accounts(session: Session, user: User) -> list[dict]:
    found = session.scalars(
        select(PayoutAccount).where(PayoutAccount.user_id == user.id).order_by(PayoutAccount.id)
    )
    return [
        {
            "id": kept.id,
            "provider": kept.provider,
            "account_id": kept.account_id,
            "created_at": iso(kept.created_at),
        }
        for kept in found
    ]


def erase_payout_accounts(session: Session, user: User) -> None:
    session.execute(delete(PayoutAccount).where(PayoutAccount.user_id == user.id))


def register() -> None:
    register_personal_data(
        "ledger_accounts",
        table="ledger_accounts",
        title=_l("Your balances in groups' ledgers"),
        export=export_accounts,
        erase=erase_accounts,
        kept=_l(
            "The amounts, in the group's ledger, without your name: bookkeeping keeps every "
            "entry, and a balance left unpaid stays the group's to settle."
        ),
    )
    register_personal_data(
        "payouts",
        table="payouts",
        title=_l("Payouts you asked for, or recorded for a group"),
        export=export_payouts,
        erase=erase_payouts,
        kept=_l("The payouts' amounts, without your name or your bank account."),
    )
    register_personal_data(
        "payments",
        table="payments",
        title=_l("Payments you recorded for a group"),
        export=export_payments,
        erase=erase_payments,
        kept=_l("The payments, without saying that you recorded them."),
    )
    register_personal_data(
        "payout_accounts",
        table="payout_accounts",
        title=_l("Where a payment provider sends your payouts"),
        export=export_payout_accounts,
        erase=erase_payout_accounts,
        deleted=_l(
            "The link to your account with the payment provider (the provider keeps its own "
            "records of the payouts it sent you)."
        ),
    )
