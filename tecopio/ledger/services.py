"""Invoices, payments received and shared, payouts; balances, statements and totals.

Every amount a page, a CSV file or a statement shows is a sum over ledger
entries, computed here once (``totals``, ``statement``), so that they cannot
disagree.
"""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, insert, literal, or_, select
from sqlalchemy.orm import Session, aliased, joinedload

from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.db import utcnow
from tecopio.demand.models import Deal, DealStatus, FeeKind
from tecopio.governance.charters import current_charter, current_version
from tecopio.groups.models import Group
from tecopio.ledger import sharing
from tecopio.ledger.models import (
    AccountKind,
    Invoice,
    InvoiceEvent,
    InvoiceStatus,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentStatus,
    Payout,
    PayoutEvent,
    PayoutStatus,
    TransactionKind,
    next_invoice_status,
    next_payout_status,
)
from tecopio.ledger.posting import (
    Leg,
    Posting,
    account,
    already_posted,
    lock_chain,
    member_account,
    open_member_accounts,
    post,
    reverse,
)
from tecopio.money import CURRENCIES, MAX_MINOR
from tecopio.text import InvalidText, clean_line


class MoneyError(Exception):
    """A money action refused; ``message`` says why, in the reader's language."""

    message = _l("This cannot be done.")
    status = 409


class InvoiceNotOpen(MoneyError):
    message = _l("This invoice is already paid or cancelled.")


class AmountMismatch(MoneyError):
    message = _l("The amount received must be the invoice's amount, in its currency.")
    status = 400


class BadAmount(MoneyError):
    message = _l("Enter an amount greater than zero.")
    status = 400


class BadReference(MoneyError):
    status = 400

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


class OverBalance(MoneyError):
    message = _l("You can ask for at most your balance.")
    status = 400


class PayoutNotOpen(MoneyError):
    message = _l("This payout is already paid or cancelled.")


class NotYourPayout(MoneyError):
    message = _l("Only the member who asked may withdraw a payout.")
    status = 403


# Invoices -----------------------------------------------------------------------------


def _next_number(session: Session, model, group_id: int) -> int:
    return (
        session.scalar(select(func.max(model.number)).where(model.group_id == group_id)) or 0
    ) + 1


def billed_members(session: Session, deal: Deal) -> int:
    """Members already invoiced for the deal (a fee per member)."""
    return session.scalar(
        select(func.coalesce(func.max(Invoice.members_to), 0)).where(Invoice.deal_id == deal.id)
    )


def issue_invoice(session: Session, deal: Deal) -> Invoice | None:
    """The fee the company owes for a deal that went ahead, once per billed step.

    A fee per member bills the members the company has been told of
    (``deal.told_members``, which moves in steps of the company k), so an
    invoice never tells the company a count it was not told. A deal completing
    with more members told than billed gets an invoice for the difference.
    """
    bid = deal.bid
    if not deal.went_ahead or not bid.fee:
        return None
    lock_chain(session, deal.group_id)
    already = billed_members(session, deal)
    if bid.fee_kind == FeeKind.FIXED:
        if session.scalar(select(Invoice.id).where(Invoice.deal_id == deal.id)):
            return None
        members_from, members_to, amount = 0, 0, bid.fee
    else:
        if deal.told_members <= already:
            return None
        members_from, members_to = already, deal.told_members
        amount = bid.fee * (members_to - members_from)
    invoice = Invoice(
        group_id=deal.group_id,
        number=_next_number(session, Invoice, deal.group_id),
        deal_id=deal.id,
        partner_id=deal.partner_id,
        amount=amount,
        currency=bid.currency,
        members_from=members_from,
        members_to=members_to,
        unit_fee=bid.fee,
    )
    session.add(invoice)
    session.flush()
    post(
        session,
        Posting(
            group_id=deal.group_id,
            currency=invoice.currency,
            kind=TransactionKind.INVOICE,
            legs=[
                Leg(_receivable(session, invoice), amount),
                Leg(
                    account(session, deal.group_id, invoice.currency, AccountKind.INVOICED), -amount
                ),
            ],
            memo=f"{deal.partner.name}",
            details={
                "invoice": invoice.number,
                "offer": deal.offer.number,
                "billed": [amount, invoice.currency, invoice.partner_id],
            },
            idempotency_key=f"invoice:{invoice.id}",
            invoice_id=invoice.id,
        ),
    )
    record(
        session,
        "invoice.issued",
        group=deal.group,
        partner=deal.partner,
        offer=deal.offer,
        number=invoice.number,
        company=deal.partner.name,
    )
    return invoice


def _receivable(session: Session, invoice: Invoice) -> LedgerAccount:
    return account(
        session,
        invoice.group_id,
        invoice.currency,
        AccountKind.RECEIVABLE,
        partner_id=invoice.partner_id,
    )


def invoice_deal(session: Session, deal: Deal) -> None:
    """On a deal that tipped or completed: bill what is owed and not yet billed."""
    if deal.status in (DealStatus.TIPPED, DealStatus.COMPLETED):
        issue_invoice(session, deal)


def group_invoices(session: Session, group: Group) -> list[Invoice]:
    return list(
        session.scalars(
            select(Invoice)
            .options(joinedload(Invoice.partner), joinedload(Invoice.group))
            .where(Invoice.group_id == group.id)
            .order_by(Invoice.number.desc())
        )
    )


def payments_for_review(session: Session, group: Group) -> list[Payment]:
    """Money that arrived and was not shared (the invoice was paid already, the amount
    differs): for the group's admins to give back."""
    return list(
        session.scalars(
            select(Payment)
            .options(joinedload(Payment.invoice).joinedload(Invoice.partner))
            .where(Payment.group_id == group.id, Payment.status == PaymentStatus.REVIEW)
            .order_by(Payment.id)
        )
    )


def company_invoices(session: Session, partner_id: int) -> list[Invoice]:
    return list(
        session.scalars(
            select(Invoice)
            .options(joinedload(Invoice.group))
            .where(Invoice.partner_id == partner_id)
            .order_by(Invoice.issued_at.desc(), Invoice.id.desc())
        )
    )


# Payments ------------------------------------------------------------------------------


def _clean_reference(reference: str) -> str:
    try:
        return clean_line(reference, max_length=200)
    except InvalidText as error:
        raise BadReference(error.message) from None


def check_billed(session: Session, invoice: Invoice) -> None:
    """The invoice's row says what the hash-chained ledger billed, or it was changed."""
    billed = already_posted(session, f"invoice:{invoice.id}")
    if billed is None or billed.details.get("billed") != [
        invoice.amount,
        invoice.currency,
        invoice.partner_id,
    ]:
        raise TamperedRecord()


def record_offline_payment(
    session: Session,
    invoice: Invoice,
    *,
    amount: int,
    currency: str,
    reference: str,
    actor: User,
    fee_basis_points: int = 0,
) -> Payment:
    """An admin records the bank transfer that paid an invoice; it is shared at once."""
    reference = _clean_reference(reference)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise BadAmount()
    if currency != invoice.currency or amount != invoice.amount:
        raise AmountMismatch()
    lock_chain(session, invoice.group_id)
    session.refresh(invoice)
    if invoice.status != InvoiceStatus.ISSUED:
        raise InvoiceNotOpen()
    check_billed(session, invoice)
    payment = Payment(
        group_id=invoice.group_id,
        invoice_id=invoice.id,
        provider="offline",
        reference=reference,
        amount=amount,
        currency=currency,
        status=PaymentStatus.PENDING,
        idempotency_key=f"offline:invoice:{invoice.id}",
        recorded_by_id=actor.id,
    )
    session.add(payment)
    session.flush()
    receive_payment(session, payment, actor=actor, fee_basis_points=fee_basis_points)
    return payment


def receive_payment(
    session: Session,
    payment: Payment,
    *,
    actor: User | None = None,
    fee_basis_points: int = 0,
    action: str = "payment.received",
):
    """The money arrived: mark the invoice paid and share the amount (exactly once)."""
    if payment.status == PaymentStatus.RECEIVED:
        return already_posted(session, f"payment:{payment.id}")
    invoice = payment.invoice
    invoice.status = next_invoice_status(invoice.status, InvoiceEvent.PAY)
    invoice.paid_at = utcnow()
    transaction = share(session, payment, fee_basis_points=fee_basis_points)
    payment.status = PaymentStatus.RECEIVED
    payment.received_at = invoice.paid_at
    payment.transaction_number = transaction.number
    session.flush()
    record(
        session,
        action,
        actor=actor,
        group=invoice.group,
        partner=invoice.partner,
        number=invoice.number,
    )
    return transaction


def _weights(session: Session, group: Group, charter, invoice: Invoice):
    method = charter["revenue.split"]
    if method == "commitment":
        return method, sharing.commitment_weights(session, session.get(Deal, invoice.deal_id))
    if method == "contribution":
        return method, sharing.contribution_weights(group.id, charter)
    return "equal", sharing.equal_weights(group.id)


def share(session: Session, payment: Payment, *, fee_basis_points: int = 0) -> LedgerTransaction:
    """One transaction: the money in, the invoice settled, the platform's fee (in hundredths
    of a percent, from the configuration), the reserve, and every active member's share by
    the charter in force now."""
    invoice = payment.invoice
    group = invoice.group
    currency, amount = payment.currency, payment.amount
    charter = current_charter(session, group)
    version = current_version(session, group.id)
    fee, reserve, distributable = sharing.plan(
        amount, charter["revenue.reserve_percent"], fee_basis_points
    )
    method, weights = _weights(session, group, charter, invoice)
    total_weight = sharing.total_weight(session, weights)
    fallback = False
    if method != "equal" and total_weight == 0:
        fallback, method, weights = True, "equal", sharing.equal_weights(group.id)
        total_weight = sharing.total_weight(session, weights)
    if total_weight == 0:  # nobody to share with: it all stays in the reserve
        reserve, distributable = reserve + distributable, 0
    lock_chain(session, group.id)
    open_member_accounts(session, group.id, currency, select(weights.subquery().c.user_id))
    legs = [
        Leg(account(session, group.id, currency, AccountKind.CLEARING), amount),
        Leg(_receivable(session, invoice), -amount),
        Leg(account(session, group.id, currency, AccountKind.INVOICED), amount),
        Leg(account(session, group.id, currency, AccountKind.RESERVE), -reserve),
    ]
    if fee:
        legs.append(Leg(account(session, group.id, currency, AccountKind.PLATFORM_FEE), -fee))
    details = {
        "invoice": invoice.number,
        "amount": amount,
        "platform_fee": fee,
        "platform_fee_basis_points": fee_basis_points,
        "reserve_percent": charter["revenue.reserve_percent"],
        "reserve": reserve,
        "distributable": distributable,
        "method": method,
        "fallback_to_equal": fallback,
        "charter_version": version.number if version else None,
        "members": 0,
        "total_weight": 0,
        "extra_cents": 0,
    }

    def member_legs(number: int) -> None:
        """The shares, in one statement that reads the weights once: a member joining or
        sharing meanwhile changes nothing half-way. The header records what was written."""
        if distributable:
            sharing.insert_member_shares(
                session, group.id, currency, number, weights, distributable
            )
            details.update(sharing.recorded_split(session, group.id, number, distributable))

    return post(
        session,
        Posting(
            group_id=group.id,
            currency=currency,
            kind=TransactionKind.PAYMENT,
            legs=legs,
            memo=invoice.partner.name,
            details=details,
            idempotency_key=f"payment:{payment.id}",
            invoice_id=invoice.id,
        ),
        more_entries=member_legs,
    )


# Money given back: refunds and chargebacks ------------------------------------------------

RETURNED_KINDS = (TransactionKind.REFUND, TransactionKind.CHARGEBACK)
# The accounts a payment credited, from which money given back is taken, in proportion.
SHARING_ACCOUNTS = (AccountKind.MEMBER, AccountKind.RESERVE, AccountKind.PLATFORM_FEE)


def _returns_of(invoice_id: int, group_id: int):
    """The numbers of the transactions that gave back money of the invoice's payment:
    refunds and chargebacks, and their reversals (a refund that failed, a dispute won)."""
    returns = select(LedgerTransaction.number).where(
        LedgerTransaction.group_id == group_id,
        LedgerTransaction.invoice_id == invoice_id,
        LedgerTransaction.kind.in_(RETURNED_KINDS),
    )
    return select(LedgerTransaction.number).where(
        LedgerTransaction.group_id == group_id,
        or_(
            LedgerTransaction.number.in_(returns),
            and_(
                LedgerTransaction.kind == TransactionKind.REVERSAL,
                LedgerTransaction.reverses_number.in_(returns),
            ),
        ),
    )


def returned_so_far(session: Session, payment: Payment) -> int:
    """What refunds and chargebacks took out of the group's account for this payment."""
    clearing = account(session, payment.group_id, payment.currency, AccountKind.CLEARING)
    return -int(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.group_id == payment.group_id,
                LedgerEntry.account_id == clearing.id,
                LedgerEntry.transaction_number.in_(
                    _returns_of(payment.invoice_id, payment.group_id)
                ),
            )
        )
    )


def take_back(
    session: Session,
    payment: Payment,
    *,
    amount: int,
    kind: TransactionKind,
    key: str,
    details: dict | None = None,
) -> LedgerTransaction | None:
    """Money of a shared payment given back (a refund, a chargeback), once per ``key``.

    It is taken from what the payment credited (each member's share, the reserve, the
    platform's fee) in proportion: after every return, each account has given back the
    largest-remainder split of everything returned so far, so that a payment returned in
    full, in any number of parts and in any order, takes back exactly what it shared. A
    member whose share was paid out already goes below zero: "owed back", on their page.
    """
    if kind not in RETURNED_KINDS:
        raise ValueError(kind)
    if (found := already_posted(session, key)) is not None:
        return found
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise BadAmount()
    shared = already_posted(session, f"payment:{payment.id}")
    if shared is None:
        raise InvoiceNotOpen()
    group_id, currency = payment.group_id, payment.currency
    lock_chain(session, group_id)
    so_far = returned_so_far(session, payment)
    target = min(payment.amount, so_far + amount)
    if target == so_far:
        return None  # all of it was given back already
    credited = (
        select(LedgerEntry.account_id.label("user_id"), (-LedgerEntry.amount).label("weight"))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerEntry.group_id == group_id,
            LedgerEntry.transaction_number == shared.number,
            LedgerEntry.amount < 0,
            LedgerAccount.kind.in_(SHARING_ACCOUNTS),
        )
    )
    owed = sharing.split_rows(credited, target, total=payment.amount).subquery("owed")
    taken = (
        select(
            LedgerEntry.account_id.label("account_id"),
            func.sum(LedgerEntry.amount).label("taken"),
        )
        .where(
            LedgerEntry.group_id == group_id,
            LedgerEntry.transaction_number.in_(_returns_of(payment.invoice_id, group_id)),
        )
        .group_by(LedgerEntry.account_id)
        .subquery("taken")
    )
    piece = owed.c.share - func.coalesce(taken.c.taken, 0)

    def shares_taken(number: int) -> None:
        session.execute(
            insert(LedgerEntry).from_select(
                ["group_id", "transaction_number", "account_id", "amount"],
                select(literal(group_id), literal(number), owed.c.user_id, piece)
                .select_from(owed)
                .outerjoin(taken, taken.c.account_id == owed.c.user_id)
                .where(piece != 0),
            )
        )

    invoice = payment.invoice
    return post(
        session,
        Posting(
            group_id=group_id,
            currency=currency,
            kind=kind,
            legs=[Leg(account(session, group_id, currency, AccountKind.CLEARING), so_far - target)],
            memo=invoice.partner.name,
            details={
                **(details or {}),
                "invoice": invoice.number,
                "amount": target - so_far,
                "returned_in_all": target,
            },
            idempotency_key=key,
            invoice_id=invoice.id,
        ),
        more_entries=shares_taken,
    )


def undo_return(session: Session, key: str, details: dict | None = None):
    """A refund that failed, or a dispute the group won: what was taken back is returned."""
    original = already_posted(session, key)
    if original is None:
        return None
    details = {**(details or {}), "invoice": original.details["invoice"]}
    return reverse(session, original, details=details)


# Payouts -------------------------------------------------------------------------------


def balance_of(session: Session, account_id: int) -> int:
    """What the group owes the account's holder: the negated sum of its entries."""
    return -int(
        session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account_id == account_id
            )
        )
    )


def ask_payout(
    session: Session,
    group: Group,
    user: User,
    *,
    amount: int,
    currency: str,
    pay_to: str,
    provider: str = "offline",
) -> Payout:
    """Set aside some or all of the member's balance for a payout; never below zero."""
    pay_to = _clean_reference(pay_to)
    if currency not in CURRENCIES:
        raise BadAmount()
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_MINOR:
        raise BadAmount()
    lock_chain(session, group.id)  # first, as every posting does: no deadlock between them
    holder = member_account(session, group.id, user.id, currency, lock=True)
    if holder is None or amount > balance_of(session, holder.id):
        raise OverBalance()
    payout = Payout(
        group_id=group.id,
        number=_next_number(session, Payout, group.id),
        account_id=holder.id,
        user_id=user.id,
        amount=amount,
        currency=currency,
        provider=provider,
        pay_to=pay_to,
    )
    session.add(payout)
    session.flush()
    post(
        session,
        Posting(
            group_id=group.id,
            currency=currency,
            kind=TransactionKind.PAYOUT_ASKED,
            legs=[
                Leg(holder, amount),
                Leg(account(session, group.id, currency, AccountKind.IN_TRANSIT), -amount),
            ],
            details={"payout": payout.number},
            idempotency_key=f"payout:{payout.id}:asked",
            payout_id=payout.id,
        ),
    )
    record(session, "payout.asked", actor=user, group=group, number=payout.number)
    return payout


def _open_payout(session: Session, payout: Payout) -> Payout:
    lock_chain(session, payout.group_id)
    session.refresh(payout)
    if payout.status != PayoutStatus.ASKED:
        raise PayoutNotOpen()
    return payout


class TamperedRecord(MoneyError):
    message = _l("This record no longer matches the ledger. Nothing was done: verify the ledger.")


def set_aside(session: Session, payout: Payout) -> int:
    """The amount the hash-chained ledger set aside for the payout: what is paid, whatever
    the payout's own row says (which must agree)."""
    asked = already_posted(session, f"payout:{payout.id}:asked")
    amount = session.scalar(
        select(func.sum(LedgerEntry.amount))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerEntry.group_id == payout.group_id,
            LedgerEntry.transaction_number == asked.number,
            LedgerAccount.kind == AccountKind.MEMBER,
        )
    )
    if amount != payout.amount or asked.currency != payout.currency:
        raise TamperedRecord()
    return int(amount)


class SentByProvider(MoneyError):
    message = _l(
        "This payout is sent by the payment service: it can no longer be withdrawn, refused "
        "or recorded by hand."
    )


def mark_payout_paid(session: Session, payout: Payout, *, reference: str, actor: User) -> Payout:
    """An admin records that the money left the group's account (offline)."""
    reference = _clean_reference(reference)
    if payout.provider != "offline":
        raise SentByProvider()
    payout = _open_payout(session, payout)
    _post_paid(session, payout, reference)
    payout.closed_by_id = actor.id
    session.flush()
    record(session, "payout.paid", actor=actor, group=payout.group, number=payout.number)
    return payout


def _post_paid(session: Session, payout: Payout, reference: str) -> None:
    """The second phase of a payout: what was set aside leaves the group's account."""
    group_id, currency = payout.group_id, payout.currency
    amount = set_aside(session, payout)
    post(
        session,
        Posting(
            group_id=group_id,
            currency=currency,
            kind=TransactionKind.PAYOUT_PAID,
            legs=[
                Leg(account(session, group_id, currency, AccountKind.IN_TRANSIT), amount),
                Leg(account(session, group_id, currency, AccountKind.CLEARING), -amount),
            ],
            details={"payout": payout.number},
            idempotency_key=f"payout:{payout.id}:paid",
            payout_id=payout.id,
        ),
    )
    payout.status = next_payout_status(payout.status, PayoutEvent.PAY)
    payout.reference, payout.closed_at = reference, utcnow()


def payout_sent(session: Session, payout: Payout, *, transfer_id: str) -> Payout:
    """The payment service sent the payout (a Connect transfer): it is paid, once."""
    payout = _open_payout(session, payout)
    payout.transfer_id = transfer_id
    _post_paid(session, payout, transfer_id)
    session.flush()
    record(session, "payout.sent", group=payout.group, number=payout.number)
    return payout


def return_payout(session: Session, payout: Payout, *, reason: str) -> Payout:
    """The payment service could not pay it, or took it back: the amount is back in the
    member's balance, by reversals of what was posted (the payment first, if any)."""
    lock_chain(session, payout.group_id)
    session.refresh(payout)
    status = next_payout_status(payout.status, PayoutEvent.RETURN)  # refuses a second return
    details = {"payout": payout.number, "returned": True}
    if payout.status == PayoutStatus.PAID:
        reverse(session, already_posted(session, f"payout:{payout.id}:paid"), details=details)
    reverse(session, already_posted(session, f"payout:{payout.id}:asked"), details=details)
    payout.status = status
    payout.reference, payout.closed_at = _clean_reference(reason or "-"), utcnow()
    session.flush()
    record(session, "payout.returned", group=payout.group, number=payout.number)
    return payout


def cancel_payout(session: Session, payout: Payout, *, actor: User, as_admin: bool) -> Payout:
    """The member withdraws the request, or an admin refuses it: the amount is back in the
    balance, by a reversal of the setting aside."""
    if not as_admin and payout.user_id != actor.id:
        raise NotYourPayout()
    if payout.provider != "offline":
        raise SentByProvider()
    payout = _open_payout(session, payout)
    asked = already_posted(session, f"payout:{payout.id}:asked")
    reverse(session, asked, details={"payout": payout.number})
    payout.status = next_payout_status(payout.status, PayoutEvent.CANCEL)
    payout.closed_at, payout.closed_by_id = utcnow(), actor.id
    session.flush()
    record(session, "payout.cancelled", actor=actor, group=payout.group, number=payout.number)
    return payout


def payouts_of(session: Session, group: Group, user: User | None = None) -> list[Payout]:
    statement = (
        select(Payout)
        .options(joinedload(Payout.user))
        .where(Payout.group_id == group.id)
        .order_by(Payout.number.desc())
    )
    if user is not None:
        statement = statement.where(Payout.user_id == user.id)
    return list(session.scalars(statement))


# What pages, CSV files and statements show: sums over entries ----------------------------


@dataclass(frozen=True)
class Totals:
    currency: str
    money_in: int  # received from companies
    given_back: int  # refunded to companies, or taken back by their banks (chargebacks)
    platform_fee: int
    reserve: int  # the reserve's balance
    spent_from_reserve: int
    distributed: int  # shared among members
    paid_out: int  # left the group's account as payouts
    in_transit: int  # asked for, not yet paid
    balances: int  # what the group owes its members now
    owed_back: int  # members' balances below zero
    outstanding: int  # invoiced and not yet received
    held: int  # what the group's account should hold


def totals(session: Session, group_id: int) -> list[Totals]:
    """The group's figures, one row per currency, each a single SUM over its entries."""
    kind = LedgerAccount.kind
    # Money in and shared: payments and their reversals; paid out: payouts paid, less any
    # reversed (a withdrawn request never touched the group's account).
    for_invoice = and_(
        LedgerTransaction.invoice_id.is_not(None), LedgerTransaction.payout_id.is_(None)
    )
    for_payout = LedgerTransaction.payout_id.is_not(None)
    spending = LedgerTransaction.kind == TransactionKind.RESERVE_SPENT
    # A reversal counts as the kind of transaction it reverses (a refund that failed).
    reversed_transaction = aliased(LedgerTransaction)
    effective_kind = func.coalesce(reversed_transaction.kind, LedgerTransaction.kind)
    given_back = effective_kind.in_([kind.value for kind in RETURNED_KINDS])

    def total(condition):
        return func.coalesce(func.sum(case((condition, LedgerEntry.amount), else_=0)), 0)

    statement = (
        select(
            LedgerAccount.currency,
            total(and_(kind == AccountKind.CLEARING, for_invoice, ~given_back)),
            -total(and_(kind == AccountKind.CLEARING, given_back)),
            -total(kind == AccountKind.PLATFORM_FEE),
            -total(kind == AccountKind.RESERVE),
            -total(and_(kind == AccountKind.CLEARING, spending)),
            -total(and_(kind == AccountKind.MEMBER, for_invoice)),
            -total(and_(kind == AccountKind.CLEARING, for_payout)),
            -total(kind == AccountKind.IN_TRANSIT),
            -total(kind == AccountKind.MEMBER),
            total(kind == AccountKind.RECEIVABLE),
            total(kind == AccountKind.CLEARING),
        )
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(
            LedgerTransaction,
            and_(
                LedgerTransaction.group_id == LedgerEntry.group_id,
                LedgerTransaction.number == LedgerEntry.transaction_number,
            ),
        )
        .outerjoin(
            reversed_transaction,
            and_(
                reversed_transaction.group_id == LedgerTransaction.group_id,
                reversed_transaction.number == LedgerTransaction.reverses_number,
            ),
        )
        .where(LedgerEntry.group_id == group_id)
        .group_by(LedgerAccount.currency)
        .order_by(LedgerAccount.currency)
    )
    owed = owed_back(session, group_id)
    return [
        Totals(
            currency=row[0],
            money_in=int(row[1]),
            given_back=int(row[2]),
            platform_fee=int(row[3]),
            reserve=int(row[4]),
            spent_from_reserve=int(row[5]),
            distributed=int(row[6]),
            paid_out=int(row[7]),
            in_transit=int(row[8]),
            balances=int(row[9]),
            owed_back=owed.get(row[0], 0),
            outstanding=int(row[10]),
            held=int(row[11]),
        )
        for row in session.execute(statement)
    ]


def owed_back(session: Session, group_id: int) -> dict[str, int]:
    """Per currency: what members whose balance went below zero owe the group."""
    per_account = (
        select(
            LedgerAccount.currency.label("currency"),
            func.sum(LedgerEntry.amount).label("sum"),
        )
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.group_id == group_id, LedgerAccount.kind == AccountKind.MEMBER)
        .group_by(LedgerAccount.id, LedgerAccount.currency)
        .subquery()
    )
    rows = session.execute(
        select(per_account.c.currency, func.sum(per_account.c.sum))
        .where(per_account.c.sum > 0)
        .group_by(per_account.c.currency)
    )
    return {currency: int(amount) for currency, amount in rows}


@dataclass(frozen=True)
class StatementLine:
    number: int
    at: datetime
    kind: TransactionKind
    memo: str
    details: dict
    amount: int  # to the member: a share positive, a payout negative
    balance: int  # after this line
    currency: str


def member_accounts(session: Session, group_id: int, user_id: int) -> list[LedgerAccount]:
    return list(
        session.scalars(
            select(LedgerAccount)
            .where(
                LedgerAccount.group_id == group_id,
                LedgerAccount.kind == AccountKind.MEMBER,
                LedgerAccount.user_id == user_id,
            )
            .order_by(LedgerAccount.currency)
        )
    )


def statement(session: Session, holder: LedgerAccount) -> list[StatementLine]:
    """Every entry on the member's account, oldest first, with the balance after each."""
    rows = session.execute(
        select(LedgerEntry.amount, LedgerTransaction)
        .join(
            LedgerTransaction,
            and_(
                LedgerTransaction.group_id == LedgerEntry.group_id,
                LedgerTransaction.number == LedgerEntry.transaction_number,
            ),
        )
        .where(LedgerEntry.account_id == holder.id)
        .order_by(LedgerTransaction.number, LedgerEntry.id)
    )
    lines, balance = [], 0
    for amount, transaction in rows:
        balance -= amount
        lines.append(
            StatementLine(
                number=transaction.number,
                at=transaction.created_at,
                kind=transaction.kind,
                memo=transaction.memo,
                details=transaction.details or {},
                amount=-amount,
                balance=balance,
                currency=transaction.currency,
            )
        )
    return lines


def transactions_page(session: Session, group_id: int, page: int, per_page: int = 50):
    """The group's transactions, newest first, each with its size (the sum of its debits)
    and, for a payment, how many members shared it."""
    size = func.sum(case((LedgerEntry.amount > 0, LedgerEntry.amount), else_=0))
    statement = (
        select(LedgerTransaction, size)
        .join(
            LedgerEntry,
            and_(
                LedgerEntry.group_id == LedgerTransaction.group_id,
                LedgerEntry.transaction_number == LedgerTransaction.number,
            ),
        )
        .where(LedgerTransaction.group_id == group_id)
        .group_by(LedgerTransaction.id)
        .order_by(LedgerTransaction.number.desc())
    )
    count = session.scalar(select(func.count()).where(LedgerTransaction.group_id == group_id))
    rows = session.execute(statement.limit(per_page).offset((page - 1) * per_page)).all()
    return [(transaction, int(amount)) for transaction, amount in rows], count


def transaction_of(session: Session, group_id: int, number: int) -> LedgerTransaction | None:
    return session.scalar(
        select(LedgerTransaction).where(
            LedgerTransaction.group_id == group_id, LedgerTransaction.number == number
        )
    )


@dataclass(frozen=True)
class ShareExplained:
    transaction: LedgerTransaction
    weight: int
    total_weight: int
    distributable: int
    floor: int  # distributable × weight ÷ total weight, rounded down
    extra_cent: bool  # one of the cents the floors left over
    share: int


def my_share(
    session: Session, transaction: LedgerTransaction, user_id: int
) -> ShareExplained | None:
    """How the member's share of a payment was computed, from what the ledger recorded."""
    holder = member_account(session, transaction.group_id, user_id, transaction.currency)
    if holder is None or transaction.kind != TransactionKind.PAYMENT:
        return None
    row = session.execute(
        select(LedgerEntry.amount, LedgerEntry.weight).where(
            LedgerEntry.group_id == transaction.group_id,
            LedgerEntry.transaction_number == transaction.number,
            LedgerEntry.account_id == holder.id,
        )
    ).first()
    if row is None:
        return None
    details = transaction.details
    weight, total, distributable = (
        row.weight or 0,
        details["total_weight"],
        details["distributable"],
    )
    floor = distributable * weight // total if total else 0
    share = -row.amount
    return ShareExplained(transaction, weight, total, distributable, floor, share > floor, share)
