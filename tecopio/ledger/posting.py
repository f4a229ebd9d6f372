"""Posting to a group's ledger, and proving what was posted.

Every transaction is posted here: its entries first, then the header that
seals them, under the group's row lock so that the group's transactions form
one hash chain (each header hashes its content, its entries and the hash
before it). ``verify`` walks the chain again and says where it breaks.
"""

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Select, and_, cast, insert, literal, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tecopio.db import utcnow
from tecopio.groups.models import Group
from tecopio.ledger.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)
from tecopio.money import CURRENCIES, MAX_MINOR

GENESIS = "0" * 64


class LedgerError(Exception):
    """A posting the ledger refuses; nothing was written."""


@dataclass(frozen=True)
class Leg:
    account: LedgerAccount
    amount: int  # debit positive, credit negative
    weight: int | None = None


def lock_chain(session: Session, group_id: int) -> None:
    """Hold the group's row until commit: one posting at a time extends its chain."""
    session.execute(select(Group.id).where(Group.id == group_id).with_for_update())


def _key(kind: AccountKind, user_id: int | None, partner_id: int | None) -> str:
    if user_id is not None:
        return f"{kind.value}:{user_id}"
    if partner_id is not None:
        return f"{kind.value}:{partner_id}"
    return kind.value


def account(
    session: Session,
    group_id: int,
    currency: str,
    kind: AccountKind,
    *,
    user_id: int | None = None,
    partner_id: int | None = None,
) -> LedgerAccount:
    """The group's account of that kind (a member's, a company's), opened on first use."""
    key = _key(kind, user_id, partner_id)
    found = session.scalar(
        select(LedgerAccount).where(
            LedgerAccount.group_id == group_id,
            LedgerAccount.currency == currency,
            LedgerAccount.key == key,
        )
    )
    if found is not None:
        return found
    opened = LedgerAccount(
        group_id=group_id,
        currency=currency,
        kind=kind,
        key=key,
        user_id=user_id,
        partner_id=partner_id,
    )
    try:
        with session.begin_nested():
            session.add(opened)
    except IntegrityError:  # opened meanwhile by another posting
        return account(session, group_id, currency, kind, user_id=user_id, partner_id=partner_id)
    return opened


MANY_ACCOUNTS = 1000


def open_member_accounts(session: Session, group_id: int, currency: str, user_ids: Select) -> None:
    """Open, in one statement, the member accounts that ``user_ids`` names and lacks."""
    missing = user_ids.where(
        ~select(LedgerAccount.id)
        .where(
            LedgerAccount.group_id == group_id,
            LedgerAccount.currency == currency,
            LedgerAccount.kind == AccountKind.MEMBER,
            LedgerAccount.user_id == user_ids.selected_columns[0],
        )
        .exists()
    )
    rows = missing.subquery()
    user_id = rows.c[0]
    opened = session.execute(
        insert(LedgerAccount).from_select(
            ["group_id", "currency", "kind", "key", "user_id", "created_at"],
            select(
                literal(group_id),
                literal(currency),
                literal(AccountKind.MEMBER.value),
                literal("member:") + cast(user_id, LedgerAccount.key.type),
                user_id,
                literal(utcnow(), LedgerAccount.created_at.type),
            ),
        ),
        execution_options={"preserve_rowcount": True},
    )
    if opened.rowcount >= MANY_ACCOUNTS:
        # The table's statistics still describe it as it was: the split about to read it
        # would be planned for a few rows and take minutes for a large group.
        session.execute(text("ANALYZE ledger_accounts"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def identity(group_id: int, currency: str, key: str) -> str:
    """An account as the chain records it: whose it is, never a row id that could be
    re-pointed ("12/EUR/member:40")."""
    return f"{group_id}/{currency}/{key}"


def content_hash(header: LedgerTransaction, entries: Iterable[tuple[str, int, int | None]]) -> str:
    """What the chain records of a transaction: its header, every entry (by its account's
    identity), and the hash before it."""
    content = {
        "group": header.group_id,
        "number": header.number,
        "kind": str(header.kind),
        "currency": header.currency,
        "memo": header.memo,
        "details": header.details or {},
        "idempotency_key": header.idempotency_key,
        "reverses": header.reverses_number,
        "invoice": header.invoice_id,
        "payout": header.payout_id,
        "created_at": _iso(header.created_at),
        "previous": header.previous_hash,
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode())
    for who, amount, weight in sorted(entries, key=lambda e: (e[0], e[1], e[2] or 0)):
        digest.update(f"\n{who}:{amount}:{'' if weight is None else weight}".encode())
    return digest.hexdigest()


def _entries_of(session: Session, group_id: int, number: int) -> list[tuple[str, int, int | None]]:
    rows = session.execute(
        select(
            LedgerAccount.group_id,
            LedgerAccount.currency,
            LedgerAccount.key,
            LedgerEntry.amount,
            LedgerEntry.weight,
        )
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.group_id == group_id, LedgerEntry.transaction_number == number)
    )
    return [(identity(g, c, k), amount, weight) for g, c, k, amount, weight in rows]


def _head(session: Session, group_id: int) -> tuple[int, str]:
    last = session.execute(
        select(LedgerTransaction.number, LedgerTransaction.hash)
        .where(LedgerTransaction.group_id == group_id)
        .order_by(LedgerTransaction.number.desc())
        .limit(1)
    ).first()
    return (last.number, last.hash) if last else (0, GENESIS)


def already_posted(session: Session, idempotency_key: str | None) -> LedgerTransaction | None:
    if idempotency_key is None:
        return None
    return session.scalar(
        select(LedgerTransaction).where(LedgerTransaction.idempotency_key == idempotency_key)
    )


def is_reversed(session: Session, original: LedgerTransaction) -> bool:
    return (
        session.scalar(
            select(LedgerTransaction.id).where(
                LedgerTransaction.group_id == original.group_id,
                LedgerTransaction.reverses_number == original.number,
            )
        )
        is not None
    )


@dataclass
class Posting:
    """A transaction being written: legs given here, and members' legs a statement inserts."""

    group_id: int
    currency: str
    kind: TransactionKind
    legs: Sequence[Leg] = ()
    memo: str = ""
    details: dict = field(default_factory=dict)
    idempotency_key: str | None = None
    reverses_number: int | None = None
    invoice_id: int | None = None
    payout_id: int | None = None


def _check(posting: Posting, *, partial: bool) -> None:
    if posting.currency not in CURRENCIES:
        raise LedgerError(f"unknown currency {posting.currency!r}")
    total = 0
    for leg in posting.legs:
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool):
            raise LedgerError("amounts are integers in minor units")
        if abs(leg.amount) > MAX_MINOR * 1000:
            raise LedgerError("amount out of range")
        if leg.account.group_id != posting.group_id or leg.account.currency != posting.currency:
            raise LedgerError("every leg is on an account of the group, in its currency")
        total += leg.amount
    if total != 0 and not partial:
        raise LedgerError(f"the legs add up to {total}, not 0")


def post(session: Session, posting: Posting, *, more_entries=None) -> LedgerTransaction:
    """Write the transaction once: a second posting with its idempotency key returns the
    first. ``more_entries(number)``, if given, inserts further entries (a split done in
    SQL) before the header; the database refuses the header if they do not balance."""
    _check(posting, partial=more_entries is not None)
    if (found := already_posted(session, posting.idempotency_key)) is not None:
        return found
    lock_chain(session, posting.group_id)
    if (found := already_posted(session, posting.idempotency_key)) is not None:
        return found  # posted by another worker while this one waited for the lock
    number, previous = _head(session, posting.group_id)
    number += 1
    if posting.legs:
        session.execute(
            insert(LedgerEntry),
            [
                {
                    "group_id": posting.group_id,
                    "transaction_number": number,
                    "account_id": leg.account.id,
                    "amount": leg.amount,
                    "weight": leg.weight,
                }
                for leg in posting.legs
            ],
        )
    if more_entries is not None:
        more_entries(number)
    entries = _entries_of(session, posting.group_id, number)
    if len(entries) < 2 or sum(amount for _a, amount, _w in entries) != 0:
        raise LedgerError("a transaction has two legs or more, which add up to 0")
    header = LedgerTransaction(
        group_id=posting.group_id,
        number=number,
        kind=posting.kind,
        currency=posting.currency,
        memo=posting.memo,
        details=posting.details,
        idempotency_key=posting.idempotency_key,
        reverses_number=posting.reverses_number,
        invoice_id=posting.invoice_id,
        payout_id=posting.payout_id,
        created_at=utcnow(),
        previous_hash=previous,
        hash="",
    )
    header.hash = content_hash(header, entries)
    session.add(header)
    session.flush()
    return header


def reverse(
    session: Session,
    original: LedgerTransaction,
    *,
    memo: str = "",
    details: dict | None = None,
) -> LedgerTransaction:
    """A correction: the same entries, negated, in a new transaction naming the original.

    The database holds a transaction to one reversal (a unique constraint)."""
    if original.kind == TransactionKind.REVERSAL:
        raise LedgerError("a reversal is not reversed; post the transaction again")
    entries = session.execute(
        select(LedgerEntry.account_id, LedgerEntry.amount, LedgerEntry.weight).where(
            LedgerEntry.group_id == original.group_id,
            LedgerEntry.transaction_number == original.number,
        )
    ).all()
    accounts = {
        a.id: a
        for a in session.scalars(
            select(LedgerAccount).where(LedgerAccount.id.in_({e.account_id for e in entries}))
        )
    }
    return post(
        session,
        Posting(
            group_id=original.group_id,
            currency=original.currency,
            kind=TransactionKind.REVERSAL,
            legs=[Leg(accounts[e.account_id], -e.amount, e.weight) for e in entries],
            memo=memo,
            details={**(details or {}), "reverses_kind": str(original.kind)},
            idempotency_key=f"reversal:{original.group_id}:{original.number}",
            reverses_number=original.number,
            invoice_id=original.invoice_id,
            payout_id=original.payout_id,
        ),
    )


@dataclass(frozen=True)
class Break:
    number: int  # the transaction where the chain or the sums break
    problem: str  # "hash", "link", "gap", "unbalanced", "currency", "holder", "reversal"


@dataclass(frozen=True)
class Verification:
    transactions: int
    entries: int
    breaks: tuple[Break, ...]

    @property
    def intact(self) -> bool:
        return not self.breaks


def _misplaced_accounts(session: Session, group_id: int) -> set[int]:
    """Accounts of the group whose holder no longer matches the key the chain recorded."""
    wrong = set()
    for holder in session.scalars(select(LedgerAccount).where(LedgerAccount.group_id == group_id)):
        named = holder.user_id if holder.user_id is not None else holder.partner_id
        if named is not None:
            expected = f"{holder.kind}:{named}"
        elif ":" in holder.key:  # a holder erased since: the key keeps whose it was
            expected = holder.key if holder.key.startswith(f"{holder.kind}:") else None
        else:
            expected = str(holder.kind)
        if holder.key != expected:
            wrong.add(holder.id)
    return wrong


def verify(session: Session, group_id: int) -> Verification:
    """Recompute the group's chain and sums from the rows as they are now."""
    headers = session.scalars(
        select(LedgerTransaction)
        .where(LedgerTransaction.group_id == group_id)
        .order_by(LedgerTransaction.number)
    ).all()
    rows = session.execute(
        select(
            LedgerEntry.transaction_number,
            LedgerEntry.account_id,
            LedgerAccount.group_id,
            LedgerAccount.currency,
            LedgerAccount.key,
            LedgerEntry.amount,
            LedgerEntry.weight,
        )
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.group_id == group_id)
    )
    misplaced = _misplaced_accounts(session, group_id)
    by_number: dict[int, list] = {}
    accounts: dict[int, set] = {}
    count = 0
    for number, account_id, account_group, currency, key, amount, weight in rows:
        by_number.setdefault(number, []).append(
            (identity(account_group, currency, key), amount, weight)
        )
        accounts.setdefault(number, set()).add((account_id, account_group, currency))
        count += 1
    breaks: list[Break] = []
    previous, expected = GENESIS, 1
    numbers = set()
    for header in headers:
        numbers.add(header.number)
        entries = by_number.get(header.number, [])
        touched = accounts.get(header.number, set())
        if header.number != expected:
            breaks.append(Break(header.number, "gap"))
        if header.previous_hash != previous:
            breaks.append(Break(header.number, "link"))
        if content_hash(header, entries) != header.hash:
            breaks.append(Break(header.number, "hash"))
        if len(entries) < 2 or sum(amount for _a, amount, _w in entries) != 0:
            breaks.append(Break(header.number, "unbalanced"))
        if any(c != header.currency or g != group_id for _id, g, c in touched):
            breaks.append(Break(header.number, "currency"))
        if any(account_id in misplaced for account_id, _g, _c in touched):
            breaks.append(Break(header.number, "holder"))
        if header.reverses_number is not None and not (0 < header.reverses_number < header.number):
            breaks.append(Break(header.number, "reversal"))
        previous, expected = header.hash, header.number + 1
    for number in sorted(set(by_number) - numbers):
        breaks.append(Break(number, "unbalanced"))  # entries no header seals
    return Verification(len(headers), count, tuple(breaks))


def member_account(
    session: Session, group_id: int, user_id: int, currency: str, *, lock: bool = False
):
    """The member's account in the group, if any. ``lock`` holds its row until commit
    (PostgreSQL): payouts asked at the same moment are taken one after the other, each
    seeing the balance the last one left."""
    statement = select(LedgerAccount).where(
        and_(
            LedgerAccount.group_id == group_id,
            LedgerAccount.currency == currency,
            LedgerAccount.kind == AccountKind.MEMBER,
            LedgerAccount.user_id == user_id,
        )
    )
    return session.scalar(statement.with_for_update() if lock else statement)


def has_member_account(session: Session, group_id: int, user_id: int) -> bool:
    return (
        session.scalar(
            select(LedgerAccount.id)
            .where(
                LedgerAccount.group_id == group_id,
                LedgerAccount.kind == AccountKind.MEMBER,
                LedgerAccount.user_id == user_id,
            )
            .limit(1)
        )
        is not None
    )
