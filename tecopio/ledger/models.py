"""The group's money: a double-entry ledger, invoices, payments received and payouts.

A ledger transaction is a header and its entries (legs). Entries are signed
integers in minor units of the transaction's currency: debits positive,
credits negative, so a member's balance (what the group owes them) is the
negated sum of their account's entries. The entries of a transaction are
written first and the header last: the header seals them. The database checks
that they balance once per transaction (a trigger on the header), refuses an
entry for a header already written, and refuses any UPDATE or DELETE of
either table (``migrations/versions/0019_ledger.py``).
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tecopio.accounts.models import User
from tecopio.db import db, str_enum, utcnow
from tecopio.groups.models import Group
from tecopio.partners.models import PartnerCompany


class AccountKind(StrEnum):
    MEMBER = "member"  # what the group owes one member (credit-normal)
    RESERVE = "reserve"  # the cooperative's reserve (credit-normal)
    RECEIVABLE = "receivable"  # what one company owes the group (debit-normal)
    INVOICED = "invoiced"  # revenue invoiced, not yet received (credit-normal)
    CLEARING = "clearing"  # money the group holds at its bank or provider (debit-normal)
    IN_TRANSIT = "in_transit"  # payouts asked for, not yet paid (credit-normal)
    ROUNDING = "rounding"  # remainders of a split, where one has any (credit-normal)
    PLATFORM_FEE = "platform_fee"  # the platform's fee, if one is configured (credit-normal)


class LedgerAccount(db.Model):
    """One account of one group's ledger, in one currency."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("group_id", "currency", "key"),
        Index("ix_ledger_accounts_member", "group_id", "currency", "kind", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[AccountKind] = mapped_column(str_enum(AccountKind, "ledger_account_kind"))
    # One account per key in each group and currency ("reserve", "member:12",
    # "receivable:3"): a key, unlike a NULL-able column, stays unique once its person is gone.
    key: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner_companies.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    group: Mapped[Group] = relationship()
    user: Mapped[User | None] = relationship()
    partner: Mapped[PartnerCompany | None] = relationship()

    @property
    def credit_normal(self) -> bool:
        return self.kind not in (AccountKind.RECEIVABLE, AccountKind.CLEARING)


class TransactionKind(StrEnum):
    INVOICE = "invoice"  # a company owes a fee
    PAYMENT = "payment"  # a fee received, and shared by the charter
    PAYOUT_ASKED = "payout_asked"  # a member's balance set aside for a payout
    PAYOUT_PAID = "payout_paid"  # the payout left the group's account
    RESERVE_SPENT = "reserve_spent"  # the group decided to spend from its reserve
    REVERSAL = "reversal"  # undoes another transaction, which it names
    REFUND = "refund"  # money given back to the company: its shares taken back
    CHARGEBACK = "chargeback"  # money the company's bank took back (a dispute)


class LedgerTransaction(db.Model):
    """The header that seals a transaction's entries, and its link in the group's hash chain.

    It names no person: rows that are never changed could not forget one on erasure. Who
    did what is in the audit log, and a member's share is on their account.
    """

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        UniqueConstraint("group_id", "number", name="uq_ledger_transactions_number"),
        # A transaction is reversed at most once.
        UniqueConstraint("group_id", "reverses_number", name="uq_ledger_transactions_reversal"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    number: Mapped[int]  # 1, 2, 3… in each group: the order of the chain
    kind: Mapped[TransactionKind] = mapped_column(
        str_enum(TransactionKind, "ledger_transaction_kind")
    )
    currency: Mapped[str] = mapped_column(String(3))
    memo: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    # Set where an outside event could post it twice (an invoice, a payment, a payout).
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    reverses_number: Mapped[int | None]
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    group: Mapped[Group] = relationship()


class LedgerEntry(db.Model):
    """One leg: an amount on one account, in the header's currency.

    ``weight`` is the member's weight in a split, kept beside their share so
    that anyone can see how it was computed.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        # Entries come before their header, which must follow in the same transaction.
        ForeignKeyConstraint(
            ["group_id", "transaction_number"],
            ["ledger_transactions.group_id", "ledger_transactions.number"],
            deferrable=True,
            initially="DEFERRED",
        ),
        Index("ix_ledger_entries_transaction", "group_id", "transaction_number"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    transaction_number: Mapped[int]
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    weight: Mapped[int | None] = mapped_column(BigInteger)

    account: Mapped[LedgerAccount] = relationship()


class InvoiceStatus(StrEnum):
    ISSUED = "issued"  # the company owes it
    PAID = "paid"  # received, and shared
    VOID = "void"  # cancelled before payment


class InvoiceEvent(StrEnum):
    PAY = "pay"
    VOID = "void"


INVOICE_TRANSITIONS: dict[tuple[InvoiceStatus, InvoiceEvent], InvoiceStatus] = {
    (InvoiceStatus.ISSUED, InvoiceEvent.PAY): InvoiceStatus.PAID,
    (InvoiceStatus.ISSUED, InvoiceEvent.VOID): InvoiceStatus.VOID,
}


class InvalidInvoiceTransition(Exception):
    def __init__(self, status: InvoiceStatus, event: InvoiceEvent):
        super().__init__(f"{event.value} is not possible from {status.value}")
        self.status, self.event = status, event


def next_invoice_status(status: InvoiceStatus, event: InvoiceEvent) -> InvoiceStatus:
    try:
        return INVOICE_TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidInvoiceTransition(status, event) from None


class Invoice(db.Model):
    """What a company owes a group for a deal that went ahead: the fee its bid set."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("group_id", "number"),
        # One invoice per deal and billed step: a second "deal tipped" posts nothing.
        UniqueConstraint("deal_id", "members_from"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    number: Mapped[int]  # per group
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_companies.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # A fee per member bills members_from+1..members_to; a fixed fee bills 0..0.
    members_from: Mapped[int] = mapped_column(default=0)
    members_to: Mapped[int] = mapped_column(default=0)
    unit_fee: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[InvoiceStatus] = mapped_column(
        str_enum(InvoiceStatus, "invoice_status"), default=InvoiceStatus.ISSUED
    )
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]

    group: Mapped[Group] = relationship()
    partner: Mapped[PartnerCompany] = relationship()

    @property
    def reference(self) -> str:
        """What the company writes on its bank transfer."""
        return f"TEC-{self.group.slug[:20].rstrip('-').upper()}-{self.number}"


class PaymentStatus(StrEnum):
    PENDING = "pending"  # started with a provider, not yet confirmed
    RECEIVED = "received"  # the money arrived, and was shared
    FAILED = "failed"  # the provider says it did not, or will not, arrive
    # Money arrived that we cannot share as it is (the invoice was paid already, or the
    # amount differs): kept, not shared, for an admin to give back.
    REVIEW = "review"
    GIVEN_BACK = "given_back"  # a payment kept for review, refunded in full; never shared


class Payment(db.Model):
    """Money received for an invoice, from one provider."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(200), default="")
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, "payment_status"))
    # One payment per invoice and provider attempt: derived from our own records.
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime | None]
    transaction_number: Mapped[int | None]  # the ledger transaction that shared it
    # Stripe: the Checkout Session, the page where the company pays, and its PaymentIntent.
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    synced_at: Mapped[datetime | None]  # when we last asked the provider

    invoice: Mapped[Invoice] = relationship()
    recorded_by: Mapped[User | None] = relationship()


class ProviderEventStatus(StrEnum):
    RECEIVED = "received"  # verified and kept; not yet acted on
    PROCESSED = "processed"  # acted on (which may have changed nothing)
    IGNORED = "ignored"  # a kind of event we do not act on
    REVIEW = "review"  # about no payment of ours: kept for the operator to look at
    DISMISSED = "dismissed"  # looked at by the operator, who dealt with it on Stripe


class ProviderEvent(db.Model):
    """An event a payment provider sent to the webhook, verified, kept once by its id.

    The unique id is what makes a second delivery of the same event change nothing.
    """

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(100))
    status: Mapped[ProviderEventStatus] = mapped_column(
        str_enum(ProviderEventStatus, "provider_event_status")
    )
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]


class PayoutStatus(StrEnum):
    ASKED = "asked"  # the member asked; the amount is set aside (in transit)
    PAID = "paid"  # the money left the group's account
    CANCELLED = "cancelled"  # withdrawn or refused: the amount is back in the balance
    RETURNED = "returned"  # the provider could not pay it, or took it back: back in the balance


class PayoutEvent(StrEnum):
    PAY = "pay"
    CANCEL = "cancel"
    RETURN = "return"


PAYOUT_TRANSITIONS: dict[tuple[PayoutStatus, PayoutEvent], PayoutStatus] = {
    (PayoutStatus.ASKED, PayoutEvent.PAY): PayoutStatus.PAID,
    (PayoutStatus.ASKED, PayoutEvent.CANCEL): PayoutStatus.CANCELLED,
    (PayoutStatus.ASKED, PayoutEvent.RETURN): PayoutStatus.RETURNED,
    (PayoutStatus.PAID, PayoutEvent.RETURN): PayoutStatus.RETURNED,  # a transfer reversed
}


class InvalidPayoutTransition(Exception):
    def __init__(self, status: PayoutStatus, event: PayoutEvent):
        super().__init__(f"{event.value} is not possible from {status.value}")
        self.status, self.event = status, event


def next_payout_status(status: PayoutStatus, event: PayoutEvent) -> PayoutStatus:
    try:
        return PAYOUT_TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidPayoutTransition(status, event) from None


class Payout(db.Model):
    """A member's request to be paid some of their balance, and what became of it."""

    __tablename__ = "payouts"
    __table_args__ = (UniqueConstraint("group_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    number: Mapped[int]  # per group
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(20))
    status: Mapped[PayoutStatus] = mapped_column(
        str_enum(PayoutStatus, "payout_status"), default=PayoutStatus.ASKED
    )
    pay_to: Mapped[str] = mapped_column(String(200), default="")  # the member's bank account
    reference: Mapped[str] = mapped_column(String(200), default="")  # of the transfer made
    asked_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Stripe: the Connect transfer, and how many times Stripe refused one (each new try
    # after a refusal gets a key of its own; a time-out retries with the same key).
    transfer_id: Mapped[str | None] = mapped_column(String(255), index=True, unique=True)
    transfer_refusals: Mapped[int] = mapped_column(default=0, server_default="0")

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    group: Mapped[Group] = relationship()

    @property
    def transfer_key(self) -> str:
        return f"payout:{self.id}:transfer:{self.transfer_refusals + 1}"


class PayoutAccount(db.Model):
    """A member's connected account with a payment provider, where payouts are sent."""

    __tablename__ = "payout_accounts"
    __table_args__ = (UniqueConstraint("user_id", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
