"""Stripe's deliveries racing each other, for real: a database of this test's own on
PostgreSQL, each delivery on its own connection, all let go at once."""

import threading
from datetime import timedelta

import flask_migrate
import pytest
from sqlalchemy import func, select

from tecopio.db import db, utcnow
from tecopio.demand import bids, deals
from tecopio.demand.models import DealStatus
from tecopio.demand.services import invite_companies
from tecopio.ledger import services, stripe_payments
from tecopio.ledger.models import (
    Invoice,
    InvoiceStatus,
    LedgerTransaction,
    Payment,
    PaymentStatus,
    ProviderEvent,
    TransactionKind,
)
from tecopio.ledger.posting import verify
from tests.conftest import TEST_DATABASE_URL, make_test_app, temporary_database
from tests.factories import Factories
from tests.stripe_standin import SECRET_KEY, WEBHOOK_SECRET, Served, StandInStripe

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="SQLite lets one writer in at a time, so these races exist only on PostgreSQL "
    "(run with TECOPIO_TEST_DATABASE_URL, as .ci/run does)",
)


@pytest.fixture(scope="module")
def standin():
    with Served(StandInStripe(timeout_seconds=5)) as served:
        yield served


@pytest.fixture
def race(tmp_path, standin):
    """An app on a database of its own, with Stripe on: an invoice of a tipped deal, and a
    Checkout Session the company has paid by card. Everything is committed for real."""
    standin.reset()
    with temporary_database(tmp_path, "stripe_race") as url:
        app = make_test_app(
            url,
            PAYMENT_PROVIDER="stripe",
            STRIPE_SECRET_KEY=SECRET_KEY,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            STRIPE_API_BASE=standin.base_url,
            STRIPE_NETWORK_RETRIES=0,
            STRIPE_TIMEOUT_SECONDS=5,
        )
        with app.app_context():
            flask_migrate.upgrade()
            session = db.session
            make = Factories(session)
            group = make.group(k_anonymity=3, privacy__company_k=3, partners__accept_bids="admins")
            admin = make.admins(group)[0].user
            members = [make.member(group) for _ in range(4)]
            owner = make.user()
            partner = make.partner(owner, name="Ekiluz Solar")
            offer = make.offer(group, publish=True)
            invite_companies(session, admin, offer, [partner.id])
            bid = make.bid(offer, partner, owner, fee=500)
            offer.bid_deadline = utcnow() - timedelta(minutes=1)
            session.commit()
            bids.decide_by_admin(session, admin, offer, bid.id)
            deal = deals.deal_of(session, offer)
            for member in members[:3]:
                deals.commit(session, member, deal, deals.CommitmentValues(1))
            session.commit()
            assert deal.status == DealStatus.TIPPED
            invoice = session.scalar(select(Invoice).where(Invoice.deal_id == deal.id))
            client = stripe_payments.client(app.config)
            payment = stripe_payments.attempt_for(session, invoice)
            session.commit()
            checkout = stripe_payments.open_checkout(
                client, payment, success_url="http://localhost/paid", cancel_url="http://x/"
            )
            stripe_payments.remember_checkout(session, payment, checkout)
            session.commit()
            ids = {"group": group.id, "invoice": invoice.id, "payment": payment.id}
            checkout_id = payment.checkout_session_id
        ids["event"], ids["checkout"] = standin.pay(checkout_id), checkout_id
        yield app, ids
        with app.app_context():
            db.engine.dispose()


def all_at_once(*actions):
    """Run each action in its own thread, all let go together; what each returned."""
    barrier = threading.Barrier(len(actions), timeout=30)
    outcomes = [None] * len(actions)

    def run(index, action):
        barrier.wait()
        try:
            outcomes[index] = action()
        except Exception as error:  # reported in the outcomes, never a hung thread
            outcomes[index] = repr(error)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    return outcomes


def delivery(app, standin, event):
    """Stripe delivering the event: a POST of its own, signed."""
    body, header = standin.signed(event)
    client = app.test_client()

    def deliver():
        response = client.post(
            "/webhooks/stripe",
            data=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
        return response.status_code

    return deliver


def return_page(app, payment_id):
    """What the page Stripe sends the company back to does: sync the payment."""

    def arrive():
        with app.app_context():
            payment = db.session.get(Payment, payment_id)
            status = stripe_payments.sync(
                db.session, stripe_payments.client(app.config), payment, fee_basis_points=0
            )
            db.session.commit()
            return status

    return arrive


def paid_once(app, ids):
    """The invoice is paid, its payment shared once, and the chain verifies."""
    with app.app_context():
        session = db.session
        kinds = session.scalars(
            select(LedgerTransaction.kind)
            .where(LedgerTransaction.group_id == ids["group"])
            .order_by(LedgerTransaction.number)
        ).all()
        assert kinds == [TransactionKind.INVOICE, TransactionKind.PAYMENT]
        assert session.get(Invoice, ids["invoice"]).status == InvoiceStatus.PAID
        assert session.get(Payment, ids["payment"]).status == PaymentStatus.RECEIVED
        assert verify(session, ids["group"]).intact


def test_one_event_delivered_ten_times_at_once_is_posted_once(race, standin):
    app, ids = race
    outcomes = all_at_once(*[delivery(app, standin, ids["event"]) for _ in range(10)])
    assert outcomes == [200] * 10
    paid_once(app, ids)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ProviderEvent)) == 1


def test_the_return_page_and_deliveries_arriving_together_post_once(race, standin):
    app, ids = race
    outcomes = all_at_once(
        *[delivery(app, standin, ids["event"]) for _ in range(4)],
        *[return_page(app, ids["payment"]) for _ in range(4)],
    )
    assert outcomes == [200] * 4 + ["received"] * 4
    paid_once(app, ids)


def test_the_events_of_one_refund_arriving_together_take_it_back_once(race, standin):
    app, ids = race
    assert all_at_once(delivery(app, standin, ids["event"])) == [200]
    refund = standin.refund(ids["checkout"], 500)
    events = [e for e in standin.events if e["data"]["object"].get("id") != ids["checkout"]]
    assert {e["type"] for e in events} == {"refund.created", "charge.refunded"}
    outcomes = all_at_once(*[delivery(app, standin, e) for e in events for _ in range(4)])
    assert outcomes == [200] * 8
    with app.app_context():
        session = db.session
        keys = session.scalars(
            select(LedgerTransaction.idempotency_key).where(
                LedgerTransaction.group_id == ids["group"],
                LedgerTransaction.kind == TransactionKind.REFUND,
            )
        ).all()
        assert keys == [f"refund:{refund['id']}"]
        (totals,) = services.totals(session, ids["group"])
        assert totals.given_back == 500
        assert verify(session, ids["group"]).intact
