"""Spending from the reserve: a kind of proposal, decided as the charter says (by the
members' vote, or by the admins directly), that posts the spending when it passes."""

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.governance.charters import GovernanceError, current_charter
from tecopio.governance.decisions import open_proposal, record_admin_decision
from tecopio.governance.kinds import KINDS, ProposalKind, register
from tecopio.governance.models import Proposal
from tecopio.groups.models import Group
from tecopio.ledger.models import AccountKind, LedgerAccount, LedgerEntry, TransactionKind
from tecopio.ledger.posting import Leg, Posting, account, lock_chain, post
from tecopio.money import CURRENCIES, MAX_MINOR, format_money
from tecopio.text import InvalidText, clean_line

KIND = "spend_reserve"


class BadSpending(GovernanceError):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


class ReserveTooSmall(GovernanceError):
    message = _l("The reserve holds less than this amount.")


class SpentByVote(GovernanceError):
    message = _l("The charter says the members decide spending from the reserve by vote.")


class SpentByAdmins(GovernanceError):
    message = _l("The charter says the group's admins decide spending from the reserve.")


def admins_spend(charter) -> bool:
    return charter["revenue.reserve_spending"] == "admins"


def reserve_balance(session: Session, group_id: int, currency: str) -> int:
    """What the reserve holds: the negated sum of its account's entries."""
    return -int(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0))
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(
                LedgerAccount.group_id == group_id,
                LedgerAccount.currency == currency,
                LedgerAccount.kind == AccountKind.RESERVE,
            )
        )
    )


def _prepare(session: Session, group: Group, payload: dict) -> dict:
    amount, currency = payload.get("amount"), payload.get("currency")
    if currency not in CURRENCIES:
        raise BadSpending(_l("Unknown currency."))
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_MINOR:
        raise BadSpending(_l("Enter an amount greater than zero."))
    try:
        purpose = clean_line(payload.get("purpose"), max_length=200)
        pay_to = clean_line(payload.get("pay_to"), max_length=200)
    except InvalidText as error:
        raise BadSpending(error.message) from None
    if amount > reserve_balance(session, group.id, currency):
        raise ReserveTooSmall()
    return {"amount": amount, "currency": currency, "purpose": purpose, "pay_to": pay_to}


def _spend(session: Session, group: Group, proposal: Proposal) -> None:
    """Post the spending, once: the reserve pays, and the money leaves the group's account."""
    payload = proposal.payload
    amount, currency = payload["amount"], payload["currency"]
    lock_chain(session, group.id)
    if amount > reserve_balance(session, group.id, currency):
        raise ReserveTooSmall()  # spent meanwhile: decided, but it can no longer be done
    post(
        session,
        Posting(
            group_id=group.id,
            currency=currency,
            kind=TransactionKind.RESERVE_SPENT,
            legs=[
                Leg(account(session, group.id, currency, AccountKind.RESERVE), amount),
                Leg(account(session, group.id, currency, AccountKind.CLEARING), -amount),
            ],
            memo=payload["purpose"],
            details={"proposal": proposal.number},
            idempotency_key=f"reserve:{proposal.id}",
        ),
    )
    record(session, "reserve.spent", group=group, number=proposal.number)


def _describe(proposal: Proposal, _category_label) -> list[tuple[str, str]]:
    payload = proposal.payload
    amount = format_money(payload["amount"], payload["currency"], str(get_locale()))
    return [
        (str(_l("Amount from the reserve")), amount),
        (str(_l("What for")), payload["purpose"]),
        (str(_l("Paid to")), payload["pay_to"]),
    ]


def register_kind() -> None:
    if KIND not in KINDS:
        register(ProposalKind(KIND, _l("Spend from the reserve"), _prepare, _spend, _describe))


def propose_spending(
    session: Session, author: User, group: Group, payload: dict, description: str = ""
) -> Proposal:
    """Put spending from the reserve to the members' vote, where the charter says so."""
    if admins_spend(current_charter(session, group)):
        raise SpentByAdmins()
    return open_proposal(
        session,
        author,
        group,
        kind=KIND,
        title=str(payload.get("purpose") or ""),
        description=description,
        payload=payload,
    )


def spend_by_admin(
    session: Session, admin: User, group: Group, payload: dict, description: str = ""
) -> Proposal:
    """An admin spends from the reserve where the charter lets admins: recorded as a
    decision, and posted at once."""
    if not admins_spend(current_charter(session, group)):
        raise SpentByVote()
    prepared = _prepare(session, group, payload)
    decision = record_admin_decision(
        session,
        admin,
        group,
        kind=KIND,
        title=prepared["purpose"],
        payload=prepared,
        description=description,
    )
    _spend(session, group, decision)
    return decision
