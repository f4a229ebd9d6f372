"""Invoices paid through Stripe Checkout, and what happens to a payment afterwards.

Stripe is the source of truth for what became of a payment. The webhook, the page
the company returns to and the catch-up job all do one thing: ask Stripe for the
Checkout Session as it is now (its PaymentIntent, refunds and disputes) and bring
our records to it (``sync``). Events that arrive twice, late or out of order
therefore end in the same state; what each step posts carries an idempotency key
(``payment:…``, ``refund:…``, ``dispute:…``) under the group's lock, so that a
payment is shared once however many of them arrive together.

Every POST to Stripe carries an idempotency key made from our own record (the
payment's key): a retry after a time-out gets the session the first attempt made.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import stripe
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.db import utcnow
from tecopio.ledger.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Payout,
    PayoutAccount,
    PayoutStatus,
    ProviderEvent,
    ProviderEventStatus,
    TransactionKind,
)
from tecopio.ledger.posting import already_posted, is_reversed, lock_chain
from tecopio.ledger.services import (
    InvoiceNotOpen,
    MoneyError,
    check_billed,
    payout_sent,
    receive_payment,
    return_payout,
    set_aside,
    take_back,
    undo_return,
)

PROVIDER = "stripe"
# The events we act on; every other kind is kept as ignored.
log = logging.getLogger(__name__)

HANDLED = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "charge.refunded",
        "charge.refund.updated",
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "transfer.reversed",
        "transfer.updated",
    }
)
# Refunds whose money has left (or is leaving) the group's account; a failed or
# cancelled refund returns what it took.
REFUND_TAKEN = frozenset({"pending", "succeeded", "requires_action"})
# Disputes while the bank holds the money, and once it is lost; "won" gives it back.
# Inquiries ("warning_…") take no money.
DISPUTE_TAKEN = frozenset({"needs_response", "under_review", "lost"})


class ProviderUnavailable(MoneyError):
    status = 503
    message = _l(
        "The payment service did not answer. Nothing was charged twice: try again in a minute."
    )


class BadSignature(Exception):
    """The webhook's request is not a fresh event signed with our secret."""


def client(config) -> stripe.StripeClient:
    base = config.get("STRIPE_API_BASE")
    return stripe.StripeClient(
        config["STRIPE_SECRET_KEY"],
        base_addresses={"api": base} if base else None,
        max_network_retries=config["STRIPE_NETWORK_RETRIES"],
        http_client=stripe.RequestsClient(timeout=config["STRIPE_TIMEOUT_SECONDS"]),
    )


# Starting a payment -----------------------------------------------------------------------


def attempt_for(session: Session, invoice: Invoice) -> Payment:
    """The invoice's Stripe payment under way, or a new one (the last one failed)."""
    lock_chain(session, invoice.group_id)
    session.refresh(invoice)
    if invoice.status != InvoiceStatus.ISSUED:
        raise InvoiceNotOpen()
    check_billed(session, invoice)
    attempts = list(
        session.scalars(
            select(Payment)
            .where(Payment.invoice_id == invoice.id, Payment.provider == PROVIDER)
            .order_by(Payment.id)
        )
    )
    open_ones = [p for p in attempts if p.status == PaymentStatus.PENDING]
    if open_ones:
        return open_ones[-1]
    payment = Payment(
        group_id=invoice.group_id,
        invoice_id=invoice.id,
        provider=PROVIDER,
        amount=invoice.amount,
        currency=invoice.currency,
        status=PaymentStatus.PENDING,
        idempotency_key=f"stripe:invoice:{invoice.id}:{len(attempts) + 1}",
    )
    session.add(payment)
    session.flush()
    return payment


def checkout_parameters(payment: Payment, *, success_url: str, cancel_url: str) -> dict:
    invoice = payment.invoice
    return {
        "mode": "payment",
        "client_reference_id": payment.idempotency_key,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": payment.currency.lower(),
                    "unit_amount": payment.amount,
                    "product_data": {"name": f"{invoice.reference} · {invoice.group.name}"},
                },
            }
        ],
        "metadata": {"tecopio_payment": payment.idempotency_key},
        "payment_intent_data": {"metadata": {"tecopio_payment": payment.idempotency_key}},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }


def open_checkout(
    stripe_client: stripe.StripeClient, payment: Payment, *, success_url: str, cancel_url: str
):
    """Ask Stripe for the payment's Checkout Session (the same one, however often asked)."""
    try:
        return stripe_client.v1.checkout.sessions.create(
            params=checkout_parameters(payment, success_url=success_url, cancel_url=cancel_url),
            options={"idempotency_key": payment.idempotency_key},
        )
    except stripe.StripeError as error:
        if _kept_by_stripe(error):
            raise SpoiltAttempt() from error
        raise ProviderUnavailable() from error


def _kept_by_stripe(error: stripe.StripeError) -> bool:
    """Stripe answered with an error of its own (5xx), which it keeps for the key for a
    day: asking again with that key gets the same error. (A time-out is not kept.)"""
    return isinstance(error, stripe.APIError) and (error.http_status or 0) >= 500


class SpoiltAttempt(ProviderUnavailable):
    """The key answers with Stripe's error now: the next try is a new attempt."""


def give_up(session: Session, payment: Payment) -> None:
    """An attempt whose key is spoilt, before any Checkout Session: the next one is new."""
    session.refresh(payment)
    if payment.status == PaymentStatus.PENDING and payment.checkout_session_id is None:
        payment.status = PaymentStatus.FAILED
        payment.reference = "Stripe answered with an error of its own"
        session.flush()


def remember_checkout(session: Session, payment: Payment, checkout) -> None:
    session.refresh(payment)
    if payment.checkout_session_id is None:
        payment.checkout_session_id = checkout.id
        payment.checkout_url = checkout.url
        session.flush()


# What Stripe says now, and bringing our records to it -------------------------------------


@dataclass(frozen=True)
class Remote:
    """One payment as Stripe has it now."""

    paid: bool
    failed: bool
    amount: int | None
    currency: str | None
    payment_intent_id: str | None
    refunds: tuple[tuple[str, int, str], ...] = ()  # (id, amount, status)
    disputes: tuple[tuple[str, int, str], ...] = ()


def fetch(stripe_client: stripe.StripeClient, payment: Payment) -> Remote:
    try:
        checkout = stripe_client.v1.checkout.sessions.retrieve(
            payment.checkout_session_id, params={"expand": ["payment_intent"]}
        )
        intent = checkout.payment_intent
        refunds = disputes = ()
        if intent is not None:
            refunds = tuple(
                (refund.id, refund.amount, refund.status)
                for refund in stripe_client.v1.refunds.list(
                    params={"payment_intent": intent.id, "limit": 100}
                ).auto_paging_iter()
            )
            disputes = tuple(
                (dispute.id, dispute.amount, dispute.status)
                for dispute in stripe_client.v1.disputes.list(
                    params={"payment_intent": intent.id, "limit": 100}
                ).auto_paging_iter()
            )
    except stripe.StripeError as error:
        raise ProviderUnavailable() from error
    intent_status = intent.status if intent is not None else None
    return Remote(
        paid=checkout.payment_status == "paid",
        failed=checkout.status == "expired"
        or (
            checkout.status == "complete"
            and checkout.payment_status == "unpaid"
            and intent_status in ("requires_payment_method", "canceled")
        ),
        amount=checkout.amount_total,
        currency=(checkout.currency or "").upper() or None,
        payment_intent_id=intent.id if intent is not None else None,
        refunds=refunds,
        disputes=disputes,
    )


def apply(
    session: Session,
    payment: Payment,
    remote: Remote,
    *,
    fee_basis_points: int,
    actor: User | None = None,
) -> str:
    """Bring the payment, and the ledger, to what Stripe says; idempotent. Returns what
    the payment is now: pending, received, failed, review or given_back. ``actor`` is
    the admin whose request made the change, if one did."""
    lock_chain(session, payment.group_id)
    session.refresh(payment)
    invoice = payment.invoice
    session.refresh(invoice)
    if remote.payment_intent_id and payment.payment_intent_id is None:
        payment.payment_intent_id = remote.payment_intent_id
    payment.synced_at = utcnow()
    if remote.paid and payment.status in (PaymentStatus.PENDING, PaymentStatus.FAILED):
        if remote.amount != payment.amount or remote.currency != payment.currency:
            if remote.amount and remote.amount > 0 and remote.currency:
                payment.amount, payment.currency = remote.amount, remote.currency  # as it came
            _to_review(session, payment, "paid an amount or currency other than the invoice's")
        elif invoice.status != InvoiceStatus.ISSUED:
            _to_review(session, payment, "paid an invoice that was paid already")
        else:
            payment.status = PaymentStatus.PENDING
            receive_payment(
                session, payment, fee_basis_points=fee_basis_points, action="payment.paid_online"
            )
    elif remote.failed and payment.status == PaymentStatus.PENDING:
        payment.status = PaymentStatus.FAILED
        _record(session, "payment.failed", payment)
    if payment.status == PaymentStatus.RECEIVED:
        _returns(session, payment, remote)
    elif payment.status in (PaymentStatus.REVIEW, PaymentStatus.GIVEN_BACK):
        _given_back(session, payment, remote, actor)
    session.flush()
    return str(payment.status)


def _given_back(session: Session, payment: Payment, remote: Remote, actor: User | None) -> None:
    """A payment kept for review is given back once Stripe holds refunds of all of it
    (ours, or made on Stripe's dashboard), and awaits review again if they failed."""
    refunded = sum(amount for _id, amount, status in remote.refunds if status in REFUND_TAKEN)
    whole = remote.amount or 0
    now = PaymentStatus.GIVEN_BACK if whole and refunded >= whole else PaymentStatus.REVIEW
    if now == payment.status:
        return
    payment.status = now
    if now == PaymentStatus.REVIEW:
        action = "payment.review"
    else:
        action = "payment.give_back" if actor is not None else "payment.given_back"
    _record(session, action, payment, actor)


class NotForReview(MoneyError):
    status = 409
    message = _l("This payment is not waiting to be given back.")


class NotGivenBack(MoneyError):
    status = 409
    message = _l(
        "Stripe did not refund this payment (it may be disputed): look it up on Stripe's "
        "dashboard. Nothing changed here."
    )


def give_back(
    session: Session,
    stripe_client: stripe.StripeClient,
    payment: Payment,
    *,
    actor: User,
    fee_basis_points: int,
) -> str:
    """Refund in full a payment kept for review (never shared, so no balance changes):
    what Stripe has not refunded yet, so a part refunded on the dashboard is not refunded
    twice. The key counts the refunds Stripe already has: asking again after a refund
    failed makes a new one; two admins at once make one."""
    if payment.status != PaymentStatus.REVIEW or payment.payment_intent_id is None:
        raise NotForReview()
    remote = fetch(stripe_client, payment)
    refunded = sum(amount for _id, amount, status in remote.refunds if status in REFUND_TAKEN)
    if refunded < (remote.amount or 0):
        try:
            stripe_client.v1.refunds.create(
                params={
                    "payment_intent": payment.payment_intent_id,
                    "metadata": {"tecopio_payment": payment.idempotency_key},
                },
                options={
                    "idempotency_key": (
                        f"{payment.idempotency_key}:give-back:{len(remote.refunds) + 1}"
                    )
                },
            )
        except stripe.InvalidRequestError:
            pass  # refused (a dispute holds the money): what Stripe holds now decides
        except stripe.StripeError as error:
            raise ProviderUnavailable() from error
        remote = fetch(stripe_client, payment)
    status = apply(session, payment, remote, fee_basis_points=fee_basis_points, actor=actor)
    if status != PaymentStatus.GIVEN_BACK:
        raise NotGivenBack()
    return status


def _record(session: Session, action: str, payment: Payment, actor: User | None = None) -> None:
    """An audit event about the payment's invoice, for its group and its company."""
    invoice = payment.invoice
    record(
        session,
        action,
        actor=actor,
        group=invoice.group,
        partner=invoice.partner,
        number=invoice.number,
    )


def _to_review(session: Session, payment: Payment, why: str) -> None:
    payment.status = PaymentStatus.REVIEW
    payment.reference = why
    _record(session, "payment.review", payment)


def _returns(session: Session, payment: Payment, remote: Remote) -> None:
    """Refunds and disputes, each posted once while it holds money, undone once it
    gives the money back. What is given back is undone first: a refund made after a
    dispute was won is then taken back in full, not capped by the dispute's amount."""
    returns = [
        (f"refund:{id_}", amount, status in REFUND_TAKEN, status in ("failed", "canceled"))
        for id_, amount, status in sorted(remote.refunds)
    ] + [
        (f"dispute:{id_}", amount, status in DISPUTE_TAKEN, status == "won")
        for id_, amount, status in sorted(remote.disputes)
    ]
    for key, amount, taken, given_back in sorted(returns, key=lambda r: not r[3]):
        provider_kind, provider_id = key.split(":", 1)
        posted = already_posted(session, key)
        if taken and posted is None:
            refund = provider_kind == "refund"
            take_back(
                session,
                payment,
                amount=amount,
                kind=TransactionKind.REFUND if refund else TransactionKind.CHARGEBACK,
                key=key,
                details={provider_kind: provider_id},
            )
            action = "payment.refunded" if refund else "payment.charged_back"
        elif given_back and posted is not None and not is_reversed(session, posted):
            undo_return(session, key, {provider_kind: provider_id})
            action = "payment.return_undone"
        else:
            continue
        _record(session, action, payment)


def sync(
    session: Session, stripe_client: stripe.StripeClient, payment: Payment, *, fee_basis_points
) -> str:
    """Ask Stripe (no database lock held meanwhile), then apply what it says."""
    if payment.checkout_session_id is None:
        return str(payment.status)
    remote = fetch(stripe_client, payment)
    return apply(session, payment, remote, fee_basis_points=fee_basis_points)


# The webhook ------------------------------------------------------------------------------


def verify_event(payload: bytes, header: str | None, secret: str, tolerance: int) -> dict:
    """The event, if ``header`` signs ``payload`` with ``secret`` within ``tolerance``
    seconds of now, before or after. The SDK checks the signature and the past; a
    timestamp ahead of our clock is refused here too (a replay prepared in advance)."""
    if not header or not secret:
        raise BadSignature("no signature")
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), header, secret, tolerance)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as error:
        raise BadSignature(str(error)) from None
    stamps = [part.split("=", 1)[1] for part in header.split(",") if part.startswith("t=")]
    try:
        signed_at = int(stamps[0])
    except (IndexError, ValueError):
        raise BadSignature("no timestamp") from None
    if signed_at > time.time() + tolerance:
        raise BadSignature("timestamp in the future")
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadSignature("not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise BadSignature("not an event")
    return event


def keep_event(session: Session, event: dict) -> ProviderEvent:
    """The event's row, new or as a delivery before left it."""
    found = session.scalar(
        select(ProviderEvent).where(
            ProviderEvent.provider == PROVIDER, ProviderEvent.event_id == event["id"]
        )
    )
    if found is not None:
        return found
    kept = ProviderEvent(
        provider=PROVIDER,
        event_id=event["id"][:255],
        kind=str(event.get("type", ""))[:100],
        status=ProviderEventStatus.RECEIVED,
        payload=_what_we_act_on(event),
    )
    session.add(kept)
    session.flush()
    return kept


# Of an event's object, what is kept: enough to find whose it is. The rest (a checkout
# session's customer details: a name, an address) is asked of Stripe when needed.
KEPT_FIELDS = ("id", "object", "payment_intent", "status", "amount", "currency", "metadata")


def _what_we_act_on(event: dict) -> dict:
    thing = _object_of(event)
    return {
        "id": event["id"],
        "type": event.get("type"),
        "created": event.get("created"),
        "data": {"object": {name: thing[name] for name in KEPT_FIELDS if name in thing}},
    }


def _object_of(event: dict) -> dict:
    data = event.get("data") or {}
    found = data.get("object") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def payment_of(session: Session, stripe_client: stripe.StripeClient, event: dict):
    """Our payment the event is about, or None."""
    thing = _object_of(event)
    if str(event.get("type", "")).startswith("checkout.session."):
        if not isinstance(thing.get("id"), str):
            return None
        return session.scalar(select(Payment).where(Payment.checkout_session_id == thing["id"]))
    intent_id = thing.get("payment_intent")
    if thing.get("object") == "payment_intent":
        intent_id = thing.get("id")
    if not isinstance(intent_id, str):
        return None
    found = session.scalar(select(Payment).where(Payment.payment_intent_id == intent_id))
    if found is not None:
        return found
    # A refund or dispute arriving before we learnt the payment's PaymentIntent: ask whose.
    try:
        intent = stripe_client.v1.payment_intents.retrieve(intent_id)
    except stripe.InvalidRequestError:
        return None
    except stripe.StripeError as error:
        raise ProviderUnavailable() from error
    key = intent.metadata.to_dict().get("tecopio_payment") if intent.metadata else None
    if not key:
        return None
    return session.scalar(
        select(Payment).where(Payment.idempotency_key == key, Payment.provider == PROVIDER)
    )


def payout_of(session: Session, event: dict) -> Payout | None:
    """Our payout a transfer event is about: by the transfer's id, or, if we never
    learnt it, by the key our request carried in the transfer's metadata."""
    thing = _object_of(event)
    if not isinstance(thing.get("id"), str):
        return None
    found = session.scalar(select(Payout).where(Payout.transfer_id == thing["id"]))
    if found is not None:
        return found
    metadata = thing.get("metadata")
    key = metadata.get("tecopio_payout") if isinstance(metadata, dict) else None
    parts = key.split(":") if isinstance(key, str) else []
    if len(parts) != 4 or parts[0] != "payout" or not parts[1].isdigit():
        return None
    found = session.get(Payout, int(parts[1]))
    return found if found is not None and found.provider == PROVIDER else None


def process(
    session: Session, stripe_client: stripe.StripeClient, kept: ProviderEvent, *, fee_basis_points
) -> ProviderEventStatus:
    """Act on a kept event (again, if a delivery before failed half-way). The event's row
    is locked first, before the group's: a second delivery of it waits here, then finds it
    done, instead of each holding one lock the other wants."""
    session.refresh(kept, with_for_update=True)
    if kept.status != ProviderEventStatus.RECEIVED:
        return kept.status
    if kept.kind not in HANDLED:
        kept.status = ProviderEventStatus.IGNORED
    elif kept.kind.startswith("transfer."):
        payout = payout_of(session, kept.payload)
        if payout is None:
            kept.status, kept.note = ProviderEventStatus.REVIEW, "no payout of ours"
        else:
            if payout.transfer_id is None and payout.status == PayoutStatus.ASKED:
                send_transfer(session, stripe_client, payout.id)  # our answer was lost
            if payout.transfer_id is None and payout.status == PayoutStatus.ASKED:
                raise ProviderUnavailable()  # not sent yet: kept as received, tried again
            if payout.transfer_id is None:
                kept.status = ProviderEventStatus.REVIEW
                kept.note = "a transfer for a payout that was returned to the balance"
            elif sync_transfer(session, stripe_client, payout) == "partly reversed":
                kept.status = ProviderEventStatus.REVIEW
                kept.note = "part of the transfer was reversed: the payout stays paid"
            else:
                kept.status = ProviderEventStatus.PROCESSED
    else:
        payment = payment_of(session, stripe_client, kept.payload)
        if payment is None:
            kept.status = ProviderEventStatus.REVIEW
            kept.note = "no payment of ours"
        else:
            sync(session, stripe_client, payment, fee_basis_points=fee_basis_points)
            # Only now, under the group's lock: the reference to the payment locks its
            # row's key, which fulfilment (setting its PaymentIntent) must update.
            kept.payment_id = payment.id
            kept.status = ProviderEventStatus.PROCESSED
    kept.processed_at = utcnow()
    session.flush()
    return kept.status


def events_for_review(session: Session, *, limit: int = 50) -> list[ProviderEvent]:
    """Events about no payment or payout of ours, newest first: for the operator."""
    return list(
        session.scalars(
            select(ProviderEvent)
            .where(ProviderEvent.status == ProviderEventStatus.REVIEW)
            .order_by(ProviderEvent.received_at.desc(), ProviderEvent.id.desc())
            .limit(limit)
        )
    )


class EventNotForReview(MoneyError):
    status = 409
    message = _l("This event is not waiting to be looked at.")


def dismiss_event(session: Session, event_id: str, *, actor: User) -> ProviderEvent:
    """The operator dealt with an event kept for review: it leaves their list."""
    kept = session.scalar(
        select(ProviderEvent)
        .where(ProviderEvent.provider == PROVIDER, ProviderEvent.event_id == event_id)
        .with_for_update()
    )
    if kept is None or kept.status != ProviderEventStatus.REVIEW:
        raise EventNotForReview()
    kept.status = ProviderEventStatus.DISMISSED
    kept.processed_at = utcnow()
    record(session, "provider_event.dismissed", actor=actor, event=event_id)
    session.flush()
    return kept


# Catching up ------------------------------------------------------------------------------

# An event a delivery left unfinished is retried after this long; a payment nobody told
# us about is asked after again at most this often.
RETRY_AFTER = timedelta(minutes=1)
ASK_AGAIN_AFTER = timedelta(minutes=10)


def catch_up(
    session: Session, stripe_client: stripe.StripeClient, *, fee_basis_points: int, now=None
) -> dict[str, int]:
    """What the webhook did not finish, finished: events kept but not acted on, and Stripe
    payments still pending (an event lost, Stripe unreachable a while). Idempotent; each
    item is committed alone, so that one that fails leaves the rest done."""
    now = now or utcnow()
    done = {"events": 0, "payments": 0, "payouts": 0, "failed": 0}

    def each(kind: str, ids, finish) -> None:
        """``finish(id)`` for each, committed alone; False or an error counts a failure, and
        the next item is tried all the same (one bad row never holds up the rest)."""
        for id_ in ids:
            try:
                finished = finish(id_)
                session.commit()
            except MoneyError:
                session.rollback()
                finished = False
            except Exception:
                session.rollback()
                log.exception("Stripe catch-up: %s %s failed", kind, id_)
                finished = False
            done[kind if finished is not False else "failed"] += 1

    each(
        "events",
        session.scalars(
            select(ProviderEvent.id).where(
                ProviderEvent.provider == PROVIDER,
                ProviderEvent.status == ProviderEventStatus.RECEIVED,
                ProviderEvent.received_at <= now - RETRY_AFTER,
            )
        ).all(),
        lambda id_: process(
            session,
            stripe_client,
            session.get(ProviderEvent, id_),
            fee_basis_points=fee_basis_points,
        ),
    )
    each(
        "payments",
        session.scalars(
            select(Payment.id).where(
                Payment.provider == PROVIDER,
                Payment.status == PaymentStatus.PENDING,
                Payment.checkout_session_id.is_not(None),
                or_(Payment.synced_at.is_(None), Payment.synced_at <= now - ASK_AGAIN_AFTER),
            )
        ).all(),
        lambda id_: sync(
            session, stripe_client, session.get(Payment, id_), fee_basis_points=fee_basis_points
        ),
    )
    each(
        "payouts",
        session.scalars(
            select(Payout.id).where(
                Payout.provider == PROVIDER,
                Payout.status == PayoutStatus.ASKED,
                Payout.asked_at <= now - RETRY_AFTER,
            )
        ).all(),
        # Still asked: Stripe refused it for a passing reason, to try again later.
        lambda id_: send_transfer(session, stripe_client, id_) != "asked",
    )
    return done


# Payouts: Connect transfers to the members' connected accounts ----------------------------


def payout_account(session: Session, user: User) -> PayoutAccount | None:
    return session.scalar(
        select(PayoutAccount).where(
            PayoutAccount.user_id == user.id, PayoutAccount.provider == PROVIDER
        )
    )


def connect(session: Session, stripe_client: stripe.StripeClient, user: User) -> PayoutAccount:
    """The member's connected account at Stripe, made once (the key is the member's)."""
    found = payout_account(session, user)
    if found is not None:
        return found
    try:
        made = stripe_client.v1.accounts.create(
            params={
                "type": "express",
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"tecopio_user": str(user.id)},
            },
            options={"idempotency_key": f"connect:user:{user.id}"},
        )
    except stripe.StripeError as error:
        raise ProviderUnavailable() from error
    kept = PayoutAccount(user_id=user.id, provider=PROVIDER, account_id=made.id)
    session.add(kept)
    session.flush()
    return kept


def onboarding_url(
    stripe_client: stripe.StripeClient, kept: PayoutAccount, *, back_url: str
) -> str:
    """Stripe's page where the member gives their bank details (a link lasts minutes: the
    same one is given for five minutes, then a new one)."""
    window = int(time.time()) // 300
    try:
        link = stripe_client.v1.account_links.create(
            params={
                "account": kept.account_id,
                "type": "account_onboarding",
                "refresh_url": back_url,
                "return_url": back_url,
            },
            options={"idempotency_key": f"onboarding:{kept.account_id}:{window}"},
        )
    except stripe.StripeError as error:
        raise ProviderUnavailable() from error
    return link.url


def ready(stripe_client: stripe.StripeClient, kept: PayoutAccount | None) -> bool:
    """Whether Stripe can send the member transfers now."""
    if kept is None:
        return False
    try:
        found = stripe_client.v1.accounts.retrieve(kept.account_id)
    except stripe.StripeError as error:
        raise ProviderUnavailable() from error
    capabilities = found.capabilities.to_dict() if found.capabilities else {}
    return capabilities.get("transfers") == "active"


# Refusals a later try can overcome (the platform's balance tops up); any other refusal
# returns the payout to the member's balance.
TRANSIENT_REFUSALS = frozenset({"balance_insufficient", "lock_timeout"})


def send_transfer(session: Session, stripe_client: stripe.StripeClient, payout_id: int) -> str:
    """The second phase of a Stripe payout: the transfer, then paid; or returned to the
    balance when Stripe refuses it for good. Asked again (a retry, the catch-up job), it
    sends nothing twice: the key is the payout's, and the outcome is applied under the
    group's lock to a payout still asked for."""
    payout = session.get(Payout, payout_id)
    if payout is None or payout.provider != PROVIDER or payout.status != PayoutStatus.ASKED:
        return str(payout.status) if payout is not None else "gone"
    amount = set_aside(session, payout)
    key = payout.transfer_key
    group_name = f"payout-{payout.group_id}-{payout.number}"
    made = _transfer_made(stripe_client, payout, group_name)
    if made is not None:  # an earlier try went through, its answer lost: not sent twice
        lock_chain(session, payout.group_id)
        session.refresh(payout)
        if payout.status != PayoutStatus.ASKED:
            return str(payout.status)
        return str(payout_sent(session, payout, transfer_id=made).status)
    try:
        transfer = stripe_client.v1.transfers.create(
            params={
                "amount": amount,
                "currency": payout.currency.lower(),
                "destination": payout.pay_to,
                "transfer_group": group_name,
                "metadata": {"tecopio_payout": key},
            },
            options={"idempotency_key": key},
        )
    except (stripe.InvalidRequestError, stripe.CardError, stripe.PermissionError) as error:
        code = getattr(error, "code", None) or "refused"
        lock_chain(session, payout.group_id)
        session.refresh(payout)
        if payout.status != PayoutStatus.ASKED or payout.transfer_key != key:
            return str(payout.status)  # another try got there first
        if code in TRANSIENT_REFUSALS:
            payout.transfer_refusals += 1  # the next try is a new request, with a new key
            session.flush()
            return str(payout.status)
        return str(return_payout(session, payout, reason=f"Stripe: {code}").status)
    except stripe.StripeError as error:
        if _kept_by_stripe(error):
            # Safe with a new key: each try first looks for a transfer made by an earlier one.
            lock_chain(session, payout.group_id)
            session.refresh(payout)
            if payout.status == PayoutStatus.ASKED and payout.transfer_key == key:
                payout.transfer_refusals += 1
                session.flush()
            return str(payout.status)  # the scheduled job tries again
        raise ProviderUnavailable() from error  # a time-out: the same key next time
    lock_chain(session, payout.group_id)
    session.refresh(payout)
    if payout.status != PayoutStatus.ASKED:
        return str(payout.status)
    return str(payout_sent(session, payout, transfer_id=transfer.id).status)


def _transfer_made(
    stripe_client: stripe.StripeClient, payout: Payout, group_name: str
) -> str | None:
    """A transfer Stripe holds for this payout (by any of its keys), if one was made."""
    try:
        found = stripe_client.v1.transfers.list(
            params={"transfer_group": group_name, "limit": 100}
        ).auto_paging_iter()
        for transfer in found:
            metadata = transfer.metadata.to_dict() if transfer.metadata else {}
            if str(metadata.get("tecopio_payout", "")).startswith(f"payout:{payout.id}:"):
                return transfer.id
    except stripe.StripeError as error:
        raise ProviderUnavailable() from error
    return None


def sync_transfer(session: Session, stripe_client: stripe.StripeClient, payout: Payout) -> str:
    """A transfer reversed on Stripe's side: the payout is returned to the balance."""
    try:
        transfer = stripe_client.v1.transfers.retrieve(payout.transfer_id)
    except stripe.StripeError as error:
        raise ProviderUnavailable() from error
    lock_chain(session, payout.group_id)
    session.refresh(payout)
    if payout.status == PayoutStatus.PAID and transfer.amount_reversed >= transfer.amount:
        return_payout(session, payout, reason=f"Stripe reversed {transfer.id}")
    elif payout.status == PayoutStatus.PAID and transfer.amount_reversed > 0:
        return "partly reversed"  # a payout is returned whole or not at all: for the operator
    return str(payout.status)
