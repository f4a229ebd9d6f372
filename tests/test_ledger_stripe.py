"""Invoices paid through Stripe: the real SDK against the stand-in server, the webhook with
events signed Stripe's way, and what refunds and disputes do to the members' shares."""

import itertools
import random
import re
import time
from pathlib import Path

import pytest
import stripe
from sqlalchemy import func, select

from tecopio import jobs
from tecopio.audit.models import AuditEvent
from tecopio.ledger import services, stripe_payments
from tecopio.ledger.models import (
    InvoiceStatus,
    LedgerTransaction,
    Payment,
    PaymentStatus,
    ProviderEvent,
    ProviderEventStatus,
    TransactionKind,
)
from tecopio.ledger.posting import verify
from tests.conftest import make_test_app
from tests.stripe_standin import SECRET_KEY, WEBHOOK_SECRET, Served, StandInStripe
from tests.test_ledger import balance, pay, scene, signed_in, tip  # noqa: F401

STRIPE_SETTINGS = (
    "PAYMENT_PROVIDER",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "STRIPE_NETWORK_RETRIES",
    "STRIPE_TIMEOUT_SECONDS",
)


@pytest.fixture(scope="session")
def stripe_server():
    with Served(StandInStripe(timeout_seconds=1.5)) as standin:
        yield standin


@pytest.fixture
def standin(app, stripe_server):
    """Stripe on, pointed at the stand-in (emptied), for this test only."""
    stripe_server.reset()
    saved = {name: app.config[name] for name in STRIPE_SETTINGS}
    app.config.update(
        PAYMENT_PROVIDER="stripe",
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=stripe_server.base_url,
        STRIPE_NETWORK_RETRIES=0,
        STRIPE_TIMEOUT_SECONDS=1,
    )
    yield stripe_server
    app.config.update(saved)


def pay_url(scene, invoice, end="pay"):
    return (
        f"/partners/{scene['partner'].slug}/invoices/{scene['group'].slug}/{invoice.number}/{end}"
    )


def start(scene, db_session, app, make_client):
    """The invoice, and the company's owner sent to Stripe's page for it."""
    (invoice,) = tip(scene, db_session, app)
    company = signed_in(make_client, scene["owner"])
    response = company.submit(pay_url(scene, invoice))
    assert response.status_code == 303, response.text
    payment = db_session.scalar(select(Payment).where(Payment.invoice_id == invoice.id))
    assert response.headers["Location"] == payment.checkout_url
    return invoice, payment, company


def returned_to(scene, invoice, payment) -> str:
    """Where Stripe sends the company back after paying."""
    return pay_url(scene, invoice, "paid") + f"?session_id={payment.checkout_session_id}"


def deliver(client, standin, event, *, at=None, secret=None):
    body, header = standin.signed(event, at=at, secret=secret)
    return client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def postings(db_session, group) -> list[tuple]:
    return [
        (t.kind, t.idempotency_key)
        for t in db_session.scalars(
            select(LedgerTransaction)
            .where(LedgerTransaction.group_id == group.id)
            .order_by(LedgerTransaction.number)
        )
    ]


def end_state(db_session, scene, invoice):
    """What a person can see of the outcome: the payment and invoice states, every
    member's balance, the group's totals; and the ledger verifying."""
    group = scene["group"]
    db_session.expire_all()
    payments = db_session.scalars(
        select(Payment.status).where(Payment.invoice_id == invoice.id).order_by(Payment.id)
    ).all()
    assert verify(db_session, group.id).intact
    people = [scene["admin"], *scene["members"]]
    return (
        tuple(payments),
        invoice.status,
        tuple(balance(db_session, group, person) for person in people),
        tuple(services.totals(db_session, group.id)),
    )


# --- starting a payment ----------------------------------------------------------------


def test_the_company_is_sent_to_stripe_with_a_key_made_from_our_record(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    (created,) = [r for r in standin.requests if r.method == "POST"]
    assert created.path == "/v1/checkout/sessions"
    assert created.idempotency_key == payment.idempotency_key == f"stripe:invoice:{invoice.id}:1"
    item = created.params["line_items"][0]
    assert item["price_data"]["unit_amount"] == "1500"
    assert item["price_data"]["currency"] == "eur"
    assert created.params["metadata"] == {"tecopio_payment": payment.idempotency_key}
    assert created.params["success_url"].endswith(
        pay_url(scene, invoice, "paid") + "?session_id={CHECKOUT_SESSION_ID}"
    )
    assert payment.status == PaymentStatus.PENDING and payment.checkout_session_id
    # Pressing "Pay" again goes back to the same page: no second session.
    again = company.submit(pay_url(scene, invoice))
    assert again.headers["Location"] == payment.checkout_url
    assert len(standin.sessions) == 1
    assert db_session.scalar(select(func.count()).select_from(Payment)) == 1


def test_the_invoices_page_offers_to_pay_by_card_and_hides_the_bank_details(
    scene, db_session, app, make_client, standin
):
    (invoice,) = tip(scene, db_session, app)
    company = signed_in(make_client, scene["owner"])
    page = company.get(f"/partners/{scene['partner'].slug}/invoices")
    assert "Pay €15.00" in page.text and pay_url(scene, invoice) in page.text
    assert app.config["OFFLINE_IBAN"] not in page.text
    cancelled = company.get(f"/partners/{scene['partner'].slug}/invoices?payment=cancelled")
    assert "Nothing was charged" in cancelled.text


def test_an_answer_lost_to_a_time_out_is_found_again_by_the_same_key(
    scene, db_session, app, make_client, standin
):
    (invoice,) = tip(scene, db_session, app)
    company = signed_in(make_client, scene["owner"])
    standin.fail_next("timeout", path="/v1/checkout/sessions")
    refused = company.submit(pay_url(scene, invoice))
    assert refused.status_code == 503
    assert "try again" in refused.text
    payment = db_session.scalar(select(Payment).where(Payment.invoice_id == invoice.id))
    assert payment.status == PaymentStatus.PENDING and payment.checkout_session_id is None
    assert len(standin.sessions) == 1  # Stripe made it; the answer was lost
    retried = company.submit(pay_url(scene, invoice))
    assert retried.status_code == 303
    assert standin.requests[-1].replayed and standin.requests[-1].idempotency_key == (
        payment.idempotency_key
    )
    assert len(standin.sessions) == 1
    db_session.refresh(payment)
    assert payment.checkout_session_id == next(iter(standin.sessions))


def test_a_server_error_writes_nothing_at_stripe_and_the_next_try_makes_the_session(
    scene, db_session, app, make_client, standin
):
    (invoice,) = tip(scene, db_session, app)
    company = signed_in(make_client, scene["owner"])
    standin.fail_next("500", path="/v1/checkout/sessions")
    assert company.submit(pay_url(scene, invoice)).status_code == 503
    assert standin.sessions == {}
    # Stripe keeps its error for the key a day: the next try is a new attempt, a new key.
    assert company.submit(pay_url(scene, invoice)).status_code == 303
    assert len(standin.sessions) == 1
    keys = [r.idempotency_key for r in standin.requests if r.method == "POST"]
    assert keys == [f"stripe:invoice:{invoice.id}:1", f"stripe:invoice:{invoice.id}:2"]
    statuses = db_session.scalars(select(Payment.status).order_by(Payment.id)).all()
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.PENDING]


def test_the_stand_in_refuses_a_key_reused_with_other_parameters(standin):
    client = stripe.StripeClient(
        SECRET_KEY, base_addresses={"api": standin.base_url}, max_network_retries=0
    )
    params = {
        "mode": "payment",
        "line_items": [
            {"quantity": 1, "price_data": {"currency": "eur", "unit_amount": 100}},
        ],
        "success_url": "http://localhost/ok",
        "cancel_url": "http://localhost/no",
    }
    first = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "k1"})
    second = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "k1"})
    assert first.id == second.id and standin.requests[-1].replayed
    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(
            params={**params, "success_url": "http://localhost/other"},
            options={"idempotency_key": "k1"},
        )
    standin.fail_next("balance_insufficient", path="/v1/refunds")
    with pytest.raises(stripe.InvalidRequestError, match="insufficient funds"):
        client.v1.refunds.create(params={"payment_intent": "pi_x"})


def test_only_the_company_s_staff_pay_and_only_their_own_invoices(
    scene, db_session, app, make_client, make, standin
):
    (invoice,) = tip(scene, db_session, app)
    member = signed_in(make_client, scene["members"][0])
    assert member.submit(pay_url(scene, invoice)).status_code == 403
    other_owner = make.user()
    other = make.partner(other_owner, name="Other Co")
    outsider = signed_in(make_client, other_owner)
    url = f"/partners/{other.slug}/invoices/{scene['group'].slug}/{invoice.number}/pay"
    assert outsider.submit(url).status_code == 404  # not its invoice
    assert standin.requests == []
    assert db_session.scalar(select(func.count()).select_from(Payment)) == 0


def test_with_the_offline_provider_there_is_no_card_payment_nor_webhook(
    scene, db_session, app, make_client, stripe_server
):
    (invoice,) = tip(scene, db_session, app)
    company = signed_in(make_client, scene["owner"])
    assert company.submit(pay_url(scene, invoice)).status_code == 404
    body, header = stripe_server.signed({"id": "evt_1", "type": "customer.created"})
    response = company.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
    assert response.status_code == 404


def test_an_already_paid_invoice_is_not_paid_again(scene, db_session, app, make_client, standin):
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)  # recorded offline
    company = signed_in(make_client, scene["owner"])
    refused = company.submit(pay_url(scene, invoice))
    assert refused.status_code == 409
    assert standin.requests == []


# --- the webhook -----------------------------------------------------------------------


def test_the_webhook_shares_a_card_payment_once_and_the_return_page_agrees(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    event = standin.pay(payment.checkout_session_id)
    response = deliver(company, standin, event)
    assert response.status_code == 200 and response.json["status"] == "processed"
    db_session.refresh(invoice)
    db_session.refresh(payment)
    assert invoice.status == InvoiceStatus.PAID and payment.status == PaymentStatus.RECEIVED
    assert payment.payment_intent_id in standin.intents
    # 10 % reserve: 1350 among the admin and six members, 192 each and six cents left over.
    group = scene["group"]
    shares = [balance(db_session, group, p) for p in [scene["admin"], *scene["members"]]]
    assert sum(shares) == 1350 and set(shares) == {192, 193}
    back = company.get(
        pay_url(scene, invoice, "paid") + f"?session_id={payment.checkout_session_id}"
    )
    assert back.status_code == 302
    assert "is paid" in company.get(back.headers["Location"]).text
    kinds = [kind for kind, _key in postings(db_session, group)]
    assert kinds == [TransactionKind.INVOICE, TransactionKind.PAYMENT]
    assert verify(db_session, group.id).intact


def test_the_return_page_fulfils_when_the_webhook_has_not_come(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    event = standin.pay(payment.checkout_session_id)
    company.get(returned_to(scene, invoice, payment))
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.RECEIVED
    assert deliver(company, standin, event).status_code == 200  # later: changes nothing
    assert len(postings(db_session, scene["group"])) == 2
    assert company.get(pay_url(scene, invoice, "paid") + "?session_id=cs_other").status_code == 404


@pytest.mark.parametrize(
    "problem",
    ["no header", "wrong secret", "changed body", "stale", "future"],
)
def test_a_bad_signature_or_timestamp_is_refused_and_nothing_is_written(
    problem, scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    event = standin.pay(payment.checkout_session_id)
    body, header = standin.signed(
        event,
        secret="whsec_wrong" if problem == "wrong secret" else None,
        at={"stale": int(time.time()) - 301, "future": int(time.time()) + 301}.get(problem),
    )
    if problem == "changed body":
        body = body.replace('"paid"', '"unpaid"')
    headers = {} if problem == "no header" else {"Stripe-Signature": header}
    response = company.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 400
    assert db_session.scalar(select(func.count()).select_from(ProviderEvent)) == 0
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.PENDING
    assert len(postings(db_session, scene["group"])) == 1


def test_timestamps_within_five_minutes_either_way_are_accepted(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    event = standin.pay(payment.checkout_session_id)
    assert deliver(company, standin, event, at=int(time.time()) + 250).status_code == 200
    other = standin.other_event()
    assert deliver(company, standin, other, at=int(time.time()) - 250).status_code == 200


def test_one_event_delivered_five_times_is_kept_and_posted_once(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    event = standin.pay(payment.checkout_session_id)
    for _ in range(5):
        assert deliver(company, standin, event).status_code == 200
    assert db_session.scalar(select(func.count()).select_from(ProviderEvent)) == 1
    assert len(postings(db_session, scene["group"])) == 2


def test_events_of_other_kinds_are_kept_as_ignored(scene, db_session, app, make_client, standin):
    company = signed_in(make_client, scene["owner"])
    assert deliver(company, standin, standin.other_event()).json["status"] == "ignored"


@pytest.mark.parametrize("kind", ["checkout.session.completed", "transfer.reversed"])
def test_a_signed_event_whose_object_has_no_id_is_kept_for_review(
    kind, scene, db_session, app, make_client, standin
):
    """Not matched to a payment or payout that has no Stripe id yet (an offline one)."""
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    company = signed_in(make_client, scene["owner"])
    event = standin.other_event()
    event["type"], event["data"]["object"] = kind, {"object": kind.split(".")[0]}
    assert deliver(company, standin, event).json["status"] == "review"
    assert len(postings(db_session, scene["group"])) == 2


def test_only_what_finds_the_payment_is_kept_of_an_event_not_the_payer_s_details(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    event = standin.pay(payment.checkout_session_id)
    assert "customer_details" in event["data"]["object"]
    deliver(company, standin, event)
    kept = db_session.scalar(select(ProviderEvent))
    assert kept.payload["data"]["object"]["id"] == payment.checkout_session_id
    assert "A. Payer" not in str(kept.payload) and "customer_details" not in str(kept.payload)


def test_a_webhook_tolerance_of_zero_is_refused_at_start(app):
    """The SDK reads 0 as "do not check the timestamp"."""
    with pytest.raises(RuntimeError, match="TOLERANCE"):
        make_test_app(
            app.config["SQLALCHEMY_DATABASE_URI"],
            PAYMENT_PROVIDER="stripe",
            STRIPE_SECRET_KEY=SECRET_KEY,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            STRIPE_WEBHOOK_TOLERANCE_SECONDS=0,
        )


def test_an_event_about_a_payment_not_ours_is_kept_for_review_and_posts_nothing(
    scene, db_session, app, make_client, standin
):
    company = signed_in(make_client, scene["owner"])
    foreign = stripe.StripeClient(
        SECRET_KEY, base_addresses={"api": standin.base_url}, max_network_retries=0
    ).v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": {"currency": "eur", "unit_amount": 9}}],
            "success_url": "http://elsewhere/ok",
            "cancel_url": "http://elsewhere/no",
        }
    )
    event = standin.pay(foreign.id)
    assert deliver(company, standin, event).json["status"] == "review"
    refund = standin.refund(foreign.id)
    assert refund["status"] == "succeeded"
    assert deliver(company, standin, standin.events[-1]).json["status"] == "review"
    kept = db_session.scalars(select(ProviderEvent)).all()
    assert {e.status for e in kept} == {ProviderEventStatus.REVIEW}
    assert db_session.scalar(select(func.count()).select_from(LedgerTransaction)) == 0


def test_the_operator_sees_the_events_kept_for_review_and_dismisses_them(
    scene, db_session, app, make, make_client, standin
):
    company = signed_in(make_client, scene["owner"])
    event = standin.other_event()
    event["type"] = "charge.refunded"
    event["data"]["object"] = {"object": "charge", "id": "ch_x", "payment_intent": "pi_nobody"}
    assert deliver(company, standin, event).json["status"] == "review"
    operator = signed_in(make_client, make.user(is_platform_admin=True))
    page = operator.get("/admin/").text
    assert "Payment events to look at" in page and event["id"] in page
    url = f"/admin/payment-events/{event['id']}/dismiss"
    # Only the operator dismisses; the admin of a group, or the company, may not.
    for someone in (company, signed_in(make_client, scene["admin"])):
        assert someone.submit(url).status_code == 403
    assert operator.post(url).status_code == 400  # no form token
    done = operator.submit(url)
    assert done.status_code == 302
    page = operator.get(done.headers["Location"]).text
    assert f"Event {event['id']} dismissed." in page and "Nothing to look at." in page
    kept = db_session.scalar(select(ProviderEvent).where(ProviderEvent.event_id == event["id"]))
    db_session.refresh(kept)
    assert kept.status == ProviderEventStatus.DISMISSED
    assert operator.submit(url).status_code == 409
    assert operator.submit("/admin/payment-events/evt_unknown/dismiss").status_code == 409


def test_stripe_unreachable_during_a_delivery_leaves_the_event_for_the_catch_up_job(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    event = standin.pay(payment.checkout_session_id)
    standin.fail_next("500", path="/v1/checkout/sessions")
    assert deliver(company, standin, event).status_code == 503
    (kept,) = db_session.scalars(select(ProviderEvent)).all()
    assert kept.status == ProviderEventStatus.RECEIVED
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.PENDING
    with app.app_context():  # a minute later, the scheduled job runs
        done = stripe_payments.catch_up(
            db_session,
            stripe_payments.client(app.config),
            fee_basis_points=0,
            now=kept.received_at + stripe_payments.RETRY_AFTER,
        )
        db_session.commit()
    assert done == {"events": 1, "payments": 0, "payouts": 0, "failed": 0}
    db_session.refresh(payment)
    db_session.refresh(kept)
    assert payment.status == PaymentStatus.RECEIVED and kept.status == ProviderEventStatus.PROCESSED
    assert len(postings(db_session, scene["group"])) == 2


def test_a_payment_whose_events_never_came_is_found_by_the_scheduled_job(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    standin.pay(payment.checkout_session_id)  # and the event is lost
    with app.app_context():
        assert jobs.run_pending(periodic=True) >= 0
        assert jobs.failures() == []
    db_session.expire_all()
    assert payment.status == PaymentStatus.RECEIVED
    assert invoice.status == InvoiceStatus.PAID


# --- asynchronous payments, failures, review ----------------------------------------------


def test_a_bank_debit_waits_then_succeeds(scene, db_session, app, make_client, standin):
    invoice, payment, company = start(scene, db_session, app, make_client)
    completed = standin.pay(payment.checkout_session_id, asynchronous=True)
    deliver(company, standin, completed)
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.PENDING
    back = company.get(
        pay_url(scene, invoice, "paid") + f"?session_id={payment.checkout_session_id}"
    )
    assert "on its way" in company.get(back.headers["Location"]).text
    deliver(company, standin, standin.settle(payment.checkout_session_id))
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.RECEIVED


def test_a_failed_bank_debit_posts_nothing_and_the_company_can_pay_again(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    deliver(company, standin, standin.pay(payment.checkout_session_id, asynchronous=True))
    deliver(company, standin, standin.settle(payment.checkout_session_id, succeeded=False))
    db_session.refresh(payment)
    db_session.refresh(invoice)
    assert payment.status == PaymentStatus.FAILED and invoice.status == InvoiceStatus.ISSUED
    assert len(postings(db_session, scene["group"])) == 1
    again = company.submit(pay_url(scene, invoice))
    assert again.status_code == 303
    second = db_session.scalars(
        select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.id)
    ).all()[-1]
    assert second.idempotency_key == f"stripe:invoice:{invoice.id}:2"
    assert len(standin.sessions) == 2


def test_an_expired_page_is_replaced_by_a_new_one(scene, db_session, app, make_client, standin):
    invoice, payment, company = start(scene, db_session, app, make_client)
    standin.expire(payment.checkout_session_id)
    again = company.submit(pay_url(scene, invoice))
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.FAILED
    assert again.headers["Location"] != payment.checkout_url and len(standin.sessions) == 2


def test_money_for_an_invoice_paid_meanwhile_is_kept_for_review_not_shared_twice(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    pay(scene, db_session, app, invoice)  # the bank transfer arrived and was recorded
    deliver(company, standin, standin.pay(payment.checkout_session_id))
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.REVIEW
    kinds = [kind for kind, _key in postings(db_session, scene["group"])]
    assert kinds == [TransactionKind.INVOICE, TransactionKind.PAYMENT]


def test_an_amount_other_than_the_invoice_s_is_kept_for_review(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    standin.sessions[payment.checkout_session_id]["amount_total"] = 100
    deliver(company, standin, standin.pay(payment.checkout_session_id))
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.REVIEW
    assert len(postings(db_session, scene["group"])) == 1


def kept_for_review(scene, db_session, app, make_client, standin):
    """A card payment that arrived after the bank transfer was recorded: kept, not shared."""
    invoice, payment, company = start(scene, db_session, app, make_client)
    pay(scene, db_session, app, invoice)
    deliver(company, standin, standin.pay(payment.checkout_session_id))
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.REVIEW
    return invoice, payment, company


def give_back_url(scene, invoice) -> str:
    return f"/groups/{scene['group'].slug}/money/invoices/{invoice.number}/give-back"


def balances(db_session, scene) -> list[int]:
    people = [scene["admin"], *scene["members"]]
    return [balance(db_session, scene["group"], person) for person in people]


def test_an_admin_gives_back_a_payment_kept_for_review_after_saying_yes(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = kept_for_review(scene, db_session, app, make_client, standin)
    before, shared = balances(db_session, scene), postings(db_session, scene["group"])
    admin = signed_in(make_client, scene["admin"])
    page = admin.get(f"/groups/{scene['group'].slug}/money").text
    assert "Payments to give back" in page and give_back_url(scene, invoice) in page
    asked = admin.submit(give_back_url(scene, invoice))
    assert asked.status_code == 200 and "Give €15.00 back to Ekiluz Solar?" in asked.text
    assert not [r for r in standin.requests if r.path == "/v1/refunds" and r.method == "POST"]
    done = admin.submit(give_back_url(scene, invoice), {"confirmed": "yes"})
    assert done.status_code == 302
    (refund,) = [r for r in standin.requests if r.path == "/v1/refunds" and r.method == "POST"]
    assert refund.idempotency_key == f"{payment.idempotency_key}:give-back:1"
    assert refund.params["payment_intent"] == payment.payment_intent_id
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.GIVEN_BACK
    page = admin.get(done.headers["Location"]).text
    assert "is being given back to Ekiluz Solar" in page and "Payments to give back" not in page
    # Nothing was shared, so nothing is taken back: the balances and the ledger stay.
    assert balances(db_session, scene) == before
    assert postings(db_session, scene["group"]) == shared
    # Stripe's events about the refund change nothing more; asking again is refused.
    for event in [e for e in standin.events if e["type"].startswith(("charge.", "refund."))]:
        assert deliver(company, standin, event).status_code == 200
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.GIVEN_BACK
    again = admin.submit(give_back_url(scene, invoice), {"confirmed": "yes"})
    assert again.status_code == 409 and len(standin.refunds) == 1
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.action.like("payment.give%"))
    ).all()
    assert actions == ["payment.give_back"]


def test_only_the_group_s_admins_give_back_and_only_payments_kept_for_review(
    scene, db_session, app, make, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    admin = signed_in(make_client, scene["admin"])
    # Nothing kept for review yet: a pending payment is not given back.
    assert admin.submit(give_back_url(scene, invoice), {"confirmed": "yes"}).status_code == 409
    pay(scene, db_session, app, invoice)
    deliver(company, standin, standin.pay(payment.checkout_session_id))
    member = signed_in(make_client, scene["members"][0])
    elsewhere = make.user()
    make.group(admin=elsewhere)  # the admin of another group
    for someone in (member, company, signed_in(make_client, elsewhere)):
        refused = someone.submit(give_back_url(scene, invoice), {"confirmed": "yes"})
        assert refused.status_code == 403
    assert admin.post(give_back_url(scene, invoice), data={"confirmed": "yes"}).status_code == 400
    unknown = f"/groups/{scene['group'].slug}/money/invoices/99/give-back"
    assert admin.submit(unknown, {"confirmed": "yes"}).status_code == 404
    assert standin.refunds == {}
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.REVIEW


def test_giving_back_while_stripe_is_down_changes_nothing_and_can_be_asked_again(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = kept_for_review(scene, db_session, app, make_client, standin)
    admin = signed_in(make_client, scene["admin"])
    standin.fail_next("500", path="/v1/refunds")
    failed = admin.submit(give_back_url(scene, invoice), {"confirmed": "yes"})
    assert failed.status_code == 503
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.REVIEW and standin.refunds == {}
    assert admin.submit(give_back_url(scene, invoice), {"confirmed": "yes"}).status_code == 302
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.GIVEN_BACK and len(standin.refunds) == 1


def test_a_refund_that_failed_puts_the_payment_back_for_review_and_a_new_key_retries(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = kept_for_review(scene, db_session, app, make_client, standin)
    admin = signed_in(make_client, scene["admin"])
    admin.submit(give_back_url(scene, invoice), {"confirmed": "yes"})
    (first,) = standin.refunds
    assert deliver(company, standin, standin.fail_refund(first)).status_code == 200
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.REVIEW
    assert admin.submit(give_back_url(scene, invoice), {"confirmed": "yes"}).status_code == 302
    keys = [
        r.idempotency_key
        for r in standin.requests
        if r.path == "/v1/refunds" and r.method == "POST"
    ]
    assert keys == [f"{payment.idempotency_key}:give-back:{n}" for n in (1, 2)]
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.GIVEN_BACK


def test_a_payment_kept_for_review_refunded_on_stripe_s_dashboard_is_given_back(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = kept_for_review(scene, db_session, app, make_client, standin)
    standin.refund(payment.checkout_session_id)
    assert deliver(company, standin, standin.events[-1]).status_code == 200
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.GIVEN_BACK
    assert db_session.scalar(
        select(AuditEvent.action).where(AuditEvent.action == "payment.given_back")
    )
    back = company.get(returned_to(scene, invoice, payment))
    assert "was given back to you" in company.get(back.headers["Location"]).text


def test_giving_back_a_payment_refunded_in_part_on_the_dashboard_refunds_the_rest(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = kept_for_review(scene, db_session, app, make_client, standin)
    standin.refund(payment.checkout_session_id, 100)
    deliver(company, standin, standin.events[-1])
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.REVIEW  # 1.00 of 15.00 given back: not all
    admin = signed_in(make_client, scene["admin"])
    assert admin.submit(give_back_url(scene, invoice), {"confirmed": "yes"}).status_code == 302
    assert sorted(r["amount"] for r in standin.refunds.values()) == [100, 1400]
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.GIVEN_BACK


def test_a_payment_stripe_will_not_refund_is_not_said_to_be_given_back(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = kept_for_review(scene, db_session, app, make_client, standin)
    standin.dispute(payment.checkout_session_id)  # the company's bank holds the money
    admin = signed_in(make_client, scene["admin"])
    refused = admin.submit(give_back_url(scene, invoice), {"confirmed": "yes"})
    assert refused.status_code == 409 and "Stripe did not refund" in refused.text
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.REVIEW and standin.refunds == {}


def test_an_amount_other_than_the_invoice_s_is_given_back_as_it_came(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    standin.sessions[payment.checkout_session_id]["amount_total"] = 900
    deliver(company, standin, standin.pay(payment.checkout_session_id))
    db_session.refresh(payment)
    assert (payment.status, payment.amount) == (PaymentStatus.REVIEW, 900)
    admin = signed_in(make_client, scene["admin"])
    asked = admin.submit(give_back_url(scene, invoice))
    assert "Give €9.00 back to Ekiluz Solar?" in asked.text


# --- refunds and chargebacks ---------------------------------------------------------------


def paid(scene, db_session, app, make_client, standin):
    invoice, payment, company = start(scene, db_session, app, make_client)
    deliver(company, standin, standin.pay(payment.checkout_session_id))
    db_session.refresh(payment)
    assert payment.status == PaymentStatus.RECEIVED
    return invoice, payment, company


def test_a_full_refund_takes_back_exactly_what_was_shared(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = paid(scene, db_session, app, make_client, standin)
    standin.refund(payment.checkout_session_id, 500)
    for event in standin.events[-2:]:
        deliver(company, standin, event)
    standin.refund(payment.checkout_session_id, 1000)
    for event in standin.events[-2:]:
        deliver(company, standin, event)
    group = scene["group"]
    people = [scene["admin"], *scene["members"]]
    assert [balance(db_session, group, p) for p in people] == [0] * 7
    (totals,) = services.totals(db_session, group.id)
    assert (totals.money_in, totals.given_back, totals.reserve, totals.held) == (1500, 1500, 0, 0)
    kinds = [kind for kind, _key in postings(db_session, group)]
    assert kinds.count(TransactionKind.REFUND) == 2


def test_a_refund_after_a_payout_shows_what_the_member_owes_back(
    scene, db_session, app, make_client, standin
):
    invoice, payment, company = paid(scene, db_session, app, make_client, standin)
    group, member = scene["group"], scene["members"][0]
    share = balance(db_session, group, member)
    with app.app_context():
        payout = services.ask_payout(
            db_session, group, member, amount=share, currency="EUR", pay_to="ES00 1234"
        )
        services.mark_payout_paid(db_session, payout, reference="T-9", actor=scene["admin"])
        db_session.commit()
    deliver(company, standin, standin.refund(payment.checkout_session_id) and standin.events[-1])
    assert balance(db_session, group, member) == -share
    (totals,) = services.totals(db_session, group.id)
    assert totals.owed_back == share and totals.given_back == 1500
    mine = signed_in(make_client, member).get(f"/groups/{group.slug}/money/mine")
    assert "refunded" in mine.text
    with app.app_context(), pytest.raises(services.OverBalance):
        services.ask_payout(db_session, group, member, amount=1, currency="EUR", pay_to="ES00 1234")


def test_a_failed_refund_gives_the_shares_back(scene, db_session, app, make_client, standin):
    invoice, payment, company = paid(scene, db_session, app, make_client, standin)
    before = [balance(db_session, scene["group"], p) for p in scene["members"]]
    refund = standin.refund(payment.checkout_session_id, 700)
    deliver(company, standin, standin.events[-1])
    assert [balance(db_session, scene["group"], p) for p in scene["members"]] != before
    deliver(company, standin, standin.fail_refund(refund["id"]))
    assert [balance(db_session, scene["group"], p) for p in scene["members"]] == before
    assert verify(db_session, scene["group"].id).intact


@pytest.mark.parametrize("won", [True, False])
def test_a_dispute_takes_the_shares_back_until_the_group_wins_it(
    won, scene, db_session, app, make_client, standin
):
    invoice, payment, company = paid(scene, db_session, app, make_client, standin)
    group = scene["group"]
    before = [balance(db_session, group, p) for p in scene["members"]]
    dispute = standin.dispute(payment.checkout_session_id)
    deliver(company, standin, standin.events[-1])
    assert [balance(db_session, group, p) for p in scene["members"]] == [0] * 6
    deliver(company, standin, standin.close_dispute(dispute["id"], won=won))
    after = [balance(db_session, group, p) for p in scene["members"]]
    assert after == (before if won else [0] * 6)
    kinds = [kind for kind, _key in postings(db_session, group)]
    assert TransactionKind.CHARGEBACK in kinds
    assert (TransactionKind.REVERSAL in kinds) is won


def test_a_refund_after_a_won_dispute_seen_in_one_go_is_taken_back_in_full(
    scene, db_session, app, make_client, standin
):
    """The dispute was posted; its "won" event is late, and meanwhile the company is
    refunded in full. The next event shows both at once: the dispute is undone first, so
    the refund is not capped by money the dispute had already taken."""
    invoice, payment, company = paid(scene, db_session, app, make_client, standin)
    dispute = standin.dispute(payment.checkout_session_id)
    deliver(company, standin, standin.events[-1])
    standin.close_dispute(dispute["id"], won=True)  # its event is not delivered yet
    standin.refund(payment.checkout_session_id)
    deliver(company, standin, standin.events[-1])
    assert balances(db_session, scene) == [0] * 7
    (totals,) = services.totals(db_session, scene["group"].id)
    assert totals.given_back == 1500 and totals.held == 0
    assert verify(db_session, scene["group"].id).intact


# --- every order of events ends the same way -------------------------------------------------


def happen(standin, session_id):
    """A bank debit that succeeds and is then refunded in part: five events, in order."""
    return [
        standin.pay(session_id, asynchronous=True),
        standin.settle(session_id),
        standin.refund(session_id, 400) and standin.events[-1],
    ]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_every_order_of_the_checkout_async_and_refund_events_ends_the_same(
    order, scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    events = happen(standin, payment.checkout_session_id)
    for index in order:
        assert deliver(company, standin, events[index]).status_code == 200
    payments, status, balances, totals = end_state(db_session, scene, invoice)
    assert payments == (PaymentStatus.RECEIVED,) and status == InvoiceStatus.PAID
    assert sum(balances) == (1500 - 400) - (150 - 40)  # the reserve keeps its 10 %
    assert totals[0].given_back == 400
    keys = {key for _kind, key in postings(db_session, scene["group"])}
    assert len([key for key in keys if key and key.startswith("refund:")]) == 1


@pytest.mark.parametrize("seed", range(4))
def test_shuffled_and_repeated_deliveries_end_as_one_delivery_in_order_does(
    seed, scene, db_session, app, make_client, standin
):
    invoice, payment, company = start(scene, db_session, app, make_client)
    happen(standin, payment.checkout_session_id)
    dispute = standin.dispute(payment.checkout_session_id, 1100)
    standin.close_dispute(dispute["id"], won=True)
    every = standin.deliveries(list(standin.events), random.Random(seed))
    for event in every:
        assert deliver(company, standin, event).status_code == 200
    shuffled = end_state(db_session, scene, invoice)
    # The same story told in order, once, to a fresh copy of the ledger's arithmetic:
    # the refund and the won dispute leave 1100 received, 10 % of it in the reserve.
    payments, status, balances, totals = shuffled
    assert sum(balances) == 1100 - 110 and totals[0].reserve == 110
    assert totals[0].given_back == 400 and totals[0].held == 1100


# --- payouts by Connect transfer ---------------------------------------------------------


def ready_member(scene, db_session, app, make_client, standin):
    """A member with a share of a card payment and a payout account Stripe can pay."""
    paid(scene, db_session, app, make_client, standin)
    member = scene["members"][0]
    client = signed_in(make_client, member)
    started = client.submit(f"/groups/{scene['group'].slug}/money/payout-account")
    assert started.status_code == 303 and "/onboarding/acct_" in started.headers["Location"]
    (account_id,) = standin.accounts
    standin.finish_onboarding(account_id)
    return member, client, account_id


def ask(db_session, app, scene, member, amount, account_id):
    with app.app_context():
        payout = services.ask_payout(
            db_session,
            scene["group"],
            member,
            amount=amount,
            currency="EUR",
            pay_to=account_id,
            provider="stripe",
        )
        db_session.commit()
    return payout


def send(db_session, app, payout):
    with app.app_context():
        try:
            return stripe_payments.send_transfer(
                db_session, stripe_payments.client(app.config), payout.id
            )
        finally:
            db_session.commit()


def posted_transfers(standin) -> list:
    return [r for r in standin.requests if r.path == "/v1/transfers" and r.method == "POST"]


def test_a_member_sets_up_a_payout_account_and_is_paid_by_transfer(
    scene, db_session, app, make_client, standin
):
    paid(scene, db_session, app, make_client, standin)
    group, member = scene["group"], scene["members"][0]
    client = signed_in(make_client, member)
    mine = f"/groups/{group.slug}/money/mine"
    assert "Set up my payout account" in client.get(mine).text
    started = client.submit(f"/groups/{group.slug}/money/payout-account")
    (account_id,) = standin.accounts
    assert started.headers["Location"] == f"{standin.base_url}/onboarding/{account_id}"
    made = [r for r in standin.requests if r.path == "/v1/accounts"]
    assert made[0].idempotency_key == f"connect:user:{member.id}"
    # Before Stripe has the member's bank details, no payout is asked for.
    early = client.submit(f"/groups/{group.slug}/money/payouts", {"amount": "1.00"})
    assert early.status_code == 400 and "Set up your payout account" in early.text
    assert db_session.scalar(select(func.count()).select_from(services.Payout)) == 0
    back = client.get(f"/groups/{group.slug}/money/payout-account")
    assert "still needs some details" in client.get(back.headers["Location"]).text
    standin.finish_onboarding(account_id)
    back = client.get(f"/groups/{group.slug}/money/payout-account")
    assert "payout account is ready" in client.get(back.headers["Location"]).text
    before = balance(db_session, group, member)
    asked = client.submit(f"/groups/{group.slug}/money/payouts", {"amount": "1.00"})
    assert asked.status_code == 302  # and the worker sent the transfer after the request
    (payout,) = db_session.scalars(select(services.Payout)).all()
    (transfer,) = standin.transfers.values()
    assert (transfer["amount"], transfer["destination"]) == (100, account_id)
    sent = posted_transfers(standin)
    assert sent[0].idempotency_key == f"payout:{payout.id}:transfer:1"
    assert payout.status == services.PayoutStatus.PAID and payout.transfer_id == transfer["id"]
    assert balance(db_session, group, member) == before - 100
    (totals,) = services.totals(db_session, group.id)
    assert (totals.paid_out, totals.in_transit) == (100, 0)
    assert verify(db_session, group.id).intact
    assert "Stripe sends it" in client.get(mine).text


def test_a_transfer_whose_answer_was_lost_is_sent_once(
    scene, db_session, app, make_client, standin
):
    member, client, account_id = ready_member(scene, db_session, app, make_client, standin)
    payout = ask(db_session, app, scene, member, 100, account_id)
    standin.fail_next("timeout", path="/v1/transfers", method="POST")
    with pytest.raises(stripe_payments.ProviderUnavailable):
        send(db_session, app, payout)
    db_session.refresh(payout)
    assert payout.status == services.PayoutStatus.ASKED and len(standin.transfers) == 1
    # The next try asks Stripe for the payout's transfers first, and finds it made.
    assert send(db_session, app, payout) == "paid"
    keys = [r.idempotency_key for r in posted_transfers(standin)]
    assert keys == [f"payout:{payout.id}:transfer:1"] and len(standin.transfers) == 1
    db_session.refresh(payout)
    assert payout.transfer_id == next(iter(standin.transfers))
    assert send(db_session, app, payout) == "paid"  # again: nothing more
    assert len(posted_transfers(standin)) == 1


def test_a_transfer_stripe_answered_with_its_own_error_goes_later_with_a_new_key_once(
    scene, db_session, app, make_client, standin
):
    """Stripe keeps a 500 for its key; the transfer may or may not have been made. The next
    try looks for it first, then sends with a new key: one transfer, whatever happened."""
    member, client, account_id = ready_member(scene, db_session, app, make_client, standin)
    payout = ask(db_session, app, scene, member, 100, account_id)
    standin.fail_next("500", path="/v1/transfers", method="POST")
    assert send(db_session, app, payout) == "asked"
    db_session.refresh(payout)
    assert payout.transfer_refusals == 1 and standin.transfers == {}
    assert send(db_session, app, payout) == "paid"
    keys = [r.idempotency_key for r in posted_transfers(standin)]
    assert keys == [f"payout:{payout.id}:transfer:1", f"payout:{payout.id}:transfer:2"]
    assert len(standin.transfers) == 1


def test_a_transfer_made_under_an_earlier_key_is_found_not_sent_again(
    scene, db_session, app, make_client, standin
):
    member, client, account_id = ready_member(scene, db_session, app, make_client, standin)
    payout = ask(db_session, app, scene, member, 100, account_id)
    standin.fail_next("timeout", path="/v1/transfers", method="POST")
    with pytest.raises(stripe_payments.ProviderUnavailable):
        send(db_session, app, payout)
    with app.app_context():  # as if a day passed and Stripe forgot the key: a new one
        payout.transfer_refusals += 1
        db_session.commit()
    assert send(db_session, app, payout) == "paid"
    (transfer_id,) = standin.transfers
    db_session.refresh(payout)
    assert payout.transfer_id == transfer_id


def test_a_payout_waits_while_the_platform_s_balance_is_short_then_goes_with_a_new_key(
    scene, db_session, app, make_client, standin
):
    member, client, account_id = ready_member(scene, db_session, app, make_client, standin)
    payout = ask(db_session, app, scene, member, 100, account_id)
    standin.fail_next("balance_insufficient", path="/v1/transfers", method="POST")
    assert send(db_session, app, payout) == "asked"
    db_session.refresh(payout)
    assert payout.transfer_refusals == 1 and standin.transfers == {}
    with app.app_context():  # the scheduled job, a while later
        done = stripe_payments.catch_up(
            db_session,
            stripe_payments.client(app.config),
            fee_basis_points=0,
            now=payout.asked_at + stripe_payments.RETRY_AFTER,
        )
        db_session.commit()
    assert done["payouts"] == 1
    db_session.refresh(payout)
    assert payout.status == services.PayoutStatus.PAID
    keys = [r.idempotency_key for r in posted_transfers(standin)]
    assert keys == [f"payout:{payout.id}:transfer:1", f"payout:{payout.id}:transfer:2"]


def test_a_transfer_stripe_refuses_for_good_returns_the_payout_to_the_balance(
    scene, db_session, app, make_client, standin
):
    member, client, account_id = ready_member(scene, db_session, app, make_client, standin)
    group = scene["group"]
    before = balance(db_session, group, member)
    standin.accounts[account_id]["capabilities"]["transfers"] = "inactive"
    payout = ask(db_session, app, scene, member, 100, account_id)
    assert balance(db_session, group, member) == before - 100
    assert send(db_session, app, payout) == "returned"
    assert balance(db_session, group, member) == before
    page = client.get(f"/groups/{group.slug}/money/mine").text
    assert "came back" in page and "insufficient_capabilities_for_transfer" in page
    assert verify(db_session, group.id).intact


def test_a_transfer_reversed_on_stripe_returns_a_paid_payout(
    scene, db_session, app, make_client, standin
):
    member, client, account_id = ready_member(scene, db_session, app, make_client, standin)
    group = scene["group"]
    before = balance(db_session, group, member)
    payout = ask(db_session, app, scene, member, 150, account_id)
    assert send(db_session, app, payout) == "paid"
    event = standin.reverse_transfer(payout.transfer_id)
    assert deliver(client, standin, event).json["status"] == "processed"
    db_session.refresh(payout)
    assert payout.status == services.PayoutStatus.RETURNED
    assert balance(db_session, group, member) == before
    (totals,) = services.totals(db_session, group.id)
    assert (totals.paid_out, totals.in_transit) == (0, 0)
    deliver(client, standin, event)  # delivered again: returned once
    assert balance(db_session, group, member) == before
    assert verify(db_session, group.id).intact


def test_a_transfer_reversed_in_part_keeps_the_payout_paid_and_tells_the_operator(
    scene, db_session, app, make_client, standin
):
    member, client, account_id = ready_member(scene, db_session, app, make_client, standin)
    payout = ask(db_session, app, scene, member, 150, account_id)
    assert send(db_session, app, payout) == "paid"
    event = standin.reverse_transfer(payout.transfer_id, 50)
    assert deliver(client, standin, event).json["status"] == "review"
    db_session.refresh(payout)
    assert payout.status == services.PayoutStatus.PAID
    kept = db_session.scalar(select(ProviderEvent).where(ProviderEvent.event_id == event["id"]))
    assert "part of the transfer" in kept.note


def test_a_reversal_of_a_transfer_whose_answer_was_lost_finds_its_payout(
    scene, db_session, app, make_client, standin
):
    member, client, account_id = ready_member(scene, db_session, app, make_client, standin)
    group = scene["group"]
    before = balance(db_session, group, member)
    payout = ask(db_session, app, scene, member, 150, account_id)
    standin.fail_next("timeout", path="/v1/transfers", method="POST")
    with pytest.raises(stripe_payments.ProviderUnavailable):
        send(db_session, app, payout)
    (transfer_id,) = standin.transfers
    event = standin.reverse_transfer(transfer_id)
    assert deliver(client, standin, event).json["status"] == "processed"
    db_session.refresh(payout)
    assert payout.transfer_id == transfer_id and payout.status == services.PayoutStatus.RETURNED
    assert balance(db_session, group, member) == before and len(standin.transfers) == 1


def test_a_stripe_payout_is_neither_withdrawn_nor_recorded_by_hand(
    scene, db_session, app, make_client, standin
):
    member, client, account_id = ready_member(scene, db_session, app, make_client, standin)
    payout = ask(db_session, app, scene, member, 100, account_id)
    slug = scene["group"].slug
    refused = client.submit(f"/groups/{slug}/money/payouts/{payout.number}/cancel")
    assert refused.status_code == 409
    admin = signed_in(make_client, scene["admin"])
    marked = admin.submit(
        f"/groups/{slug}/money/payouts/{payout.number}/paid",
        {"reference": "X", "confirmed": "yes"},
    )
    assert marked.status_code == 409
    db_session.refresh(payout)
    assert payout.status == services.PayoutStatus.ASKED


def test_the_readme_asks_for_exactly_the_events_the_webhook_acts_on():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Stripe", 1)[1].split("3. Set", 1)[0]
    assert set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", section)) == stripe_payments.HANDLED
