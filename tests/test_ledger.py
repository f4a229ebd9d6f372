"""The group's money: invoices when a deal tips, an offline payment shared by the charter,
balances, statements, payouts, and a ledger the database keeps honest and anyone verifies."""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError, IntegrityError

from tecopio.db import utcnow
from tecopio.demand import bids, deals
from tecopio.demand.services import invite_companies
from tecopio.groups.services import leave_group
from tecopio.ledger import services
from tecopio.ledger.models import (
    INVOICE_TRANSITIONS,
    PAYOUT_TRANSITIONS,
    AccountKind,
    InvalidInvoiceTransition,
    InvalidPayoutTransition,
    Invoice,
    InvoiceEvent,
    InvoiceStatus,
    LedgerEntry,
    LedgerTransaction,
    PayoutEvent,
    PayoutStatus,
    TransactionKind,
    next_invoice_status,
    next_payout_status,
)
from tecopio.ledger.posting import LedgerError, Leg, Posting, account, post, reverse, verify
from tecopio.ledger.splits import split
from tests.factories import PASSWORD
from tests.ledger_tables import ledger_unlocked


def signed_in(make_client, user):
    client = make_client()
    response = client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def scene(make, db_session, app):
    """A deal on Ekiluz's bid (5.00 per member), tipping at 3, in a group of six members and
    its admin; the charter keeps 10 % in the reserve and shares the rest in equal parts."""
    group = make.group(k_anonymity=3, privacy__company_k=3, partners__accept_bids="admins")
    admin = make.admins(group)[0].user
    members = [make.member(group) for _ in range(6)]
    owner = make.user()
    partner = make.partner(owner, name="Ekiluz Solar")
    offer = make.offer(group, publish=True)
    invite_companies(db_session, admin, offer, [partner.id])
    bid = make.bid(offer, partner, owner, fee=500)
    offer.bid_deadline = utcnow() - timedelta(minutes=1)
    db_session.commit()
    with app.app_context():
        bids.decide_by_admin(db_session, admin, offer, bid.id)
        db_session.commit()
    deal = deals.deal_of(db_session, offer)
    return {
        "group": group,
        "admin": admin,
        "members": members,
        "owner": owner,
        "partner": partner,
        "offer": offer,
        "deal": deal,
    }


def tip(scene, db_session, app, quantities=(1, 1, 1)):
    with app.app_context():
        for member, quantity in zip(scene["members"], quantities, strict=False):
            deals.commit(db_session, member, scene["deal"], deals.CommitmentValues(quantity))
        db_session.commit()
    return db_session.scalars(select(Invoice).where(Invoice.deal_id == scene["deal"].id)).all()


def pay(scene, db_session, app, invoice):
    with app.app_context():
        payment = services.record_offline_payment(
            db_session,
            invoice,
            amount=invoice.amount,
            currency=invoice.currency,
            reference="TRF-1",
            actor=scene["admin"],
        )
        db_session.commit()
    return payment


def balance(db_session, group, user, currency="EUR") -> int:
    holder = services.member_account(db_session, group.id, user.id, currency)
    return services.balance_of(db_session, holder.id) if holder else 0


# --- state machines --------------------------------------------------------------------


@pytest.mark.parametrize("status", list(InvoiceStatus))
@pytest.mark.parametrize("event", list(InvoiceEvent))
def test_every_invoice_state_and_event_is_in_the_table_or_refused(status, event):
    if (status, event) in INVOICE_TRANSITIONS:
        assert next_invoice_status(status, event) == INVOICE_TRANSITIONS[(status, event)]
    else:
        with pytest.raises(InvalidInvoiceTransition):
            next_invoice_status(status, event)


@pytest.mark.parametrize("status", list(PayoutStatus))
@pytest.mark.parametrize("event", list(PayoutEvent))
def test_every_payout_state_and_event_is_in_the_table_or_refused(status, event):
    if (status, event) in PAYOUT_TRANSITIONS:
        assert next_payout_status(status, event) == PAYOUT_TRANSITIONS[(status, event)]
    else:
        with pytest.raises(InvalidPayoutTransition):
            next_payout_status(status, event)


# --- invoices --------------------------------------------------------------------------


def test_a_deal_that_tips_invoices_the_fee_for_the_members_the_company_was_told_of(
    scene, db_session, app
):
    (invoice,) = tip(scene, db_session, app)
    assert invoice.amount == 3 * 500 and invoice.currency == "EUR"
    assert (invoice.members_from, invoice.members_to, invoice.number) == (0, 3, 1)
    assert invoice.status == InvoiceStatus.ISSUED
    with app.app_context():
        receivable = account(
            db_session,
            scene["group"].id,
            "EUR",
            AccountKind.RECEIVABLE,
            partner_id=scene["partner"].id,
        )
    assert services.balance_of(db_session, receivable.id) == -1500  # debit: owed to the group


def test_a_second_tipped_signal_bills_nothing_more_and_completion_bills_what_was_told_since(
    scene, db_session, app
):
    tip(scene, db_session, app)
    with app.app_context():
        services.invoice_deal(db_session, scene["deal"])  # a replay: nothing new to bill
        for member in scene["members"][3:6]:  # a step of the company k: the company is told
            deals.commit(db_session, member, scene["deal"], deals.CommitmentValues(1))
        deals.close_if_due(db_session, scene["deal"], scene["deal"].deadline + timedelta(1))
        services.invoice_deal(db_session, scene["deal"])
        db_session.commit()
    invoices = db_session.scalars(
        select(Invoice).where(Invoice.deal_id == scene["deal"].id).order_by(Invoice.number)
    ).all()
    assert [(i.members_from, i.members_to, i.amount) for i in invoices] == [
        (0, 3, 1500),
        (3, 6, 1500),
    ]


def test_a_bid_without_a_fee_is_never_invoiced(scene, db_session, app):
    scene["deal"].bid.fee = 0
    assert tip(scene, db_session, app) == []


def test_the_company_reads_its_invoices_with_the_transfer_details(
    scene, db_session, app, make_client
):
    (invoice,) = tip(scene, db_session, app)
    company = signed_in(make_client, scene["owner"])
    page = company.get(f"/partners/{scene['partner'].slug}/invoices")
    assert page.status_code == 200
    assert invoice.reference in page.text and "15.00" in page.text
    assert app.config["OFFLINE_IBAN"] in page.text
    member = signed_in(make_client, scene["members"][0])
    assert member.get(f"/partners/{scene['partner'].slug}/invoices").status_code == 403
    # The company never reads the group's ledger.
    assert company.get(f"/groups/{scene['group'].slug}/money").status_code == 403


# --- an offline payment, shared --------------------------------------------------------


def test_an_admin_records_the_payment_and_it_is_shared_by_the_charter(
    scene, db_session, app, make_client
):
    (invoice,) = tip(scene, db_session, app)
    admin = signed_in(make_client, scene["admin"])
    url = f"/groups/{scene['group'].slug}/money/invoices/{invoice.number}/payment"
    asked = admin.submit(url, {"amount": "15", "reference": "TRF-77"})
    assert "Record the payment of invoice 1?" in asked.text
    assert (
        db_session.scalar(
            select(func.count()).where(LedgerTransaction.group_id == scene["group"].id)
        )
        == 1
    )
    done = admin.confirm(url, {"amount": "15", "reference": "TRF-77"})
    assert done.status_code == 302
    db_session.expire_all()
    assert invoice.status == InvoiceStatus.PAID
    # 15.00: 1.50 to the reserve, 13.50 among 7 active members (six and the admin).
    group = scene["group"]
    people = [scene["admin"], *scene["members"]]
    shares = [balance(db_session, group, person) for person in people]
    assert sum(shares) == 1350 and sorted(shares) == [192] + [193] * 6
    (totals,) = services.totals(db_session, group.id)
    assert (totals.money_in, totals.reserve, totals.distributed) == (1500, 150, 1350)
    assert (totals.outstanding, totals.held, totals.balances) == (0, 1500, 1350)
    assert verify(db_session, group.id).intact
    page = admin.get(f"/groups/{group.slug}/money")
    assert "The payment of invoice 1 is recorded" in page.text


def test_a_payment_is_refused_with_the_wrong_amount_or_twice_or_by_a_member(
    scene, db_session, app, make_client
):
    (invoice,) = tip(scene, db_session, app)
    url = f"/groups/{scene['group'].slug}/money/invoices/{invoice.number}/payment"
    admin = signed_in(make_client, scene["admin"])
    for amount in ("14.99", "0", "-15", "fifteen", "15.001", ""):
        refused = admin.submit(url, {"amount": amount, "reference": "TRF", "confirmed": "yes"})
        assert refused.status_code == 400, amount
    assert (
        admin.submit(url, {"amount": "15", "reference": "", "confirmed": "yes"}).status_code == 400
    )
    assert (
        admin.submit(url, {"amount": "15", "reference": "a\x07b", "confirmed": "yes"}).status_code
        == 400
    )
    member = signed_in(make_client, scene["members"][0])
    assert (
        member.submit(url, {"amount": "15", "reference": "X", "confirmed": "yes"}).status_code
        == 403
    )
    assert (
        db_session.scalar(
            select(func.count()).where(LedgerTransaction.group_id == scene["group"].id)
        )
        == 1
    )
    assert admin.confirm(url, {"amount": "15", "reference": "TRF"}).status_code == 302
    again = admin.submit(url, {"amount": "15", "reference": "TRF", "confirmed": "yes"})
    assert again.status_code == 409
    assert (
        db_session.scalar(
            select(func.count()).where(LedgerTransaction.group_id == scene["group"].id)
        )
        == 2
    )


def test_a_currency_other_than_the_invoices_is_refused(scene, db_session, app):
    (invoice,) = tip(scene, db_session, app)
    with app.app_context(), pytest.raises(services.AmountMismatch):
        services.record_offline_payment(
            db_session, invoice, amount=1500, currency="USD", reference="X", actor=scene["admin"]
        )


def test_members_share_only_while_active_and_keep_what_they_earned(
    scene, db_session, app, make_client
):
    (invoice,) = tip(scene, db_session, app)
    group, gone, stays = scene["group"], scene["members"][5], scene["members"][4]
    with app.app_context():
        leave_group(db_session, gone, group)
        db_session.commit()
    pay(scene, db_session, app, invoice)
    assert balance(db_session, group, gone) == 0
    assert balance(db_session, group, stays) == 1350 // 6
    # Earned before leaving stays: a second deal's payment, then she leaves.
    leaver = scene["members"][0]
    with app.app_context():
        leave_group(db_session, leaver, group)
        db_session.commit()
    assert balance(db_session, group, leaver) == 1350 // 6
    client = signed_in(make_client, leaver)
    assert client.get(f"/groups/{group.slug}/money/mine").status_code == 200
    assert client.get(f"/groups/{group.slug}/money").status_code == 403
    never = signed_in(make_client, gone)
    assert never.get(f"/groups/{group.slug}/money/mine").status_code == 403


def test_shares_by_commitment_follow_what_each_committed(scene, db_session, app, make):
    make.charter(scene["group"], revenue__split="commitment", revenue__reserve_percent=0)
    (invoice,) = tip(scene, db_session, app, quantities=(1, 2, 4))
    pay(scene, db_session, app, invoice)
    got = [balance(db_session, scene["group"], m) for m in scene["members"][:4]]
    # 15.00 by 1:2:4 → 2.142…, 4.285…, 8.571…: floors 214, 428, 857 and one cent left over,
    # to the largest remainder (the second member's .57…).
    assert got == [214, 429, 857, 0] and sum(got) == 1500
    assert balance(db_session, scene["group"], scene["admin"]) == 0


def test_shares_by_contribution_count_only_what_members_share_with_the_group(
    scene, db_session, app, make
):
    make.charter(scene["group"], revenue__split="contribution", revenue__reserve_percent=0)
    a, b, c = scene["members"][3:6]
    make.consent(a, scene["group"])
    make.intent(a, category=make.category("energy-electricity"))  # 2 points
    make.preference(a, category=make.category("energy-electricity"))  # 1 point
    make.intent(b, category=make.category("energy-electricity"))  # not consented: nothing
    make.consent(c, scene["group"])
    make.preference(c, category=make.category("energy-electricity"))  # 1 point
    (invoice,) = tip(scene, db_session, app)  # three commitments: 5 points each
    pay(scene, db_session, app, invoice)
    got = {
        m.id: balance(db_session, scene["group"], m) for m in [*scene["members"], scene["admin"]]
    }
    # Weights 5, 5, 5 (committed), 3 (a), 0 (b), 1 (c): total 19.
    first = scene["members"][:3]
    weights = [(m.id, 5) for m in first] + [(a.id, 3), (c.id, 1)]
    expected = {share.key: share.amount for share in split(1500, sorted(weights))}
    assert {m: got[m] for m in expected} == expected
    assert got[b.id] == 0 and got[scene["admin"].id] == 0
    assert sum(got.values()) == 1500
    transaction = db_session.scalar(
        select(LedgerTransaction).where(
            LedgerTransaction.group_id == scene["group"].id,
            LedgerTransaction.kind == TransactionKind.PAYMENT,
        )
    )
    assert transaction.details["total_weight"] == 19 and transaction.details["members"] == 5


def test_a_member_sees_how_their_share_was_computed(scene, db_session, app, make_client):
    (invoice,) = tip(scene, db_session, app)
    payment = pay(scene, db_session, app, invoice)
    group = scene["group"]
    lucky = [m for m in scene["members"] if balance(db_session, group, m) == 193]
    client = signed_in(make_client, lucky[0])
    page = client.get(f"/groups/{group.slug}/money/mine/{payment.transaction_number}")
    assert page.status_code == 200
    text_ = page.text
    assert "€15.00" in text_ and "€1.50" in text_ and "€13.50" in text_
    assert "Your weight was 1 of a total of 7" in text_
    assert "€1.92" in text_ and "one cent more" in text_ and "€1.93" in text_
    # An invoice transaction is no share; another group's number is not found either.
    assert client.get(f"/groups/{group.slug}/money/mine/1").status_code == 404
    outsider = signed_in(make_client, scene["owner"])
    assert (
        outsider.get(f"/groups/{group.slug}/money/mine/{payment.transaction_number}").status_code
        == 403
    )


def test_page_csv_statements_and_entries_agree(scene, db_session, app, make_client):
    """Every total on the ledger page, in its CSV and in the members' statements is the same
    sum over the entries."""
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    group, member = scene["group"], scene["members"][1]
    with app.app_context():
        services.ask_payout(
            db_session, group, member, amount=100, currency="EUR", pay_to="ES12 3456"
        )
        db_session.commit()
    client = signed_in(make_client, member)
    page = client.get(f"/groups/{group.slug}/money").text
    rows = list(csv.reader(io.StringIO(client.get(f"/groups/{group.slug}/money/ledger.csv").text)))
    header, figures = rows[0], dict(zip(rows[0], rows[1], strict=True))
    entries = dict(
        db_session.execute(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.group_id == group.id)
            .group_by(LedgerEntry.account_id)
        ).all()
    )
    members = [
        holder
        for person in [scene["admin"], *scene["members"]]
        for holder in services.member_accounts(db_session, group.id, person.id)
    ]
    from_entries = -sum(entries[holder.id] for holder in members)
    from_statements = sum(
        (services.statement(db_session, holder) or [None])[-1].balance for holder in members
    )
    assert int(figures["members_balances"]) == from_entries == from_statements == 1250
    assert int(figures["awaiting_payout"]) == 100 and "€1.00" in page
    assert 'data-total="balances">€12.50' in page
    assert 'data-total="money_in">€15.00' in page and header[0] == "currency"
    statement_csv = list(
        csv.reader(io.StringIO(client.get(f"/groups/{group.slug}/money/mine.csv").text))
    )
    assert int(statement_csv[-1][-1]) == balance(db_session, group, member) == 93


# --- payouts ---------------------------------------------------------------------------


def test_a_member_asks_for_a_payout_and_an_admin_records_it_paid(
    scene, db_session, app, make_client
):
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    group, member = scene["group"], scene["members"][2]
    client = signed_in(make_client, member)
    mine = f"/groups/{group.slug}/money/mine"
    over = client.submit(f"/groups/{group.slug}/money/payouts", {"amount": "1.94", "pay_to": "ES1"})
    assert over.status_code == 400 and "at most your balance" in over.text
    done = client.submit(f"/groups/{group.slug}/money/payouts", {"amount": "1.50", "pay_to": "ES1"})
    assert done.status_code == 302
    page = client.get(mine).text
    assert "Payout 1 asked for" in page
    start = balance(db_session, group, member)
    assert start in (42, 43)
    other = signed_in(make_client, scene["members"][3])
    assert other.submit(f"/groups/{group.slug}/money/payouts/1/cancel").status_code == 403
    assert (
        other.submit(
            f"/groups/{group.slug}/money/payouts/1/paid", {"reference": "X", "confirmed": "yes"}
        ).status_code
        == 403
    )
    admin = signed_in(make_client, scene["admin"])
    paid = admin.confirm(f"/groups/{group.slug}/money/payouts/1/paid", {"reference": "OUT-1"})
    assert paid.status_code == 302
    again = admin.submit(
        f"/groups/{group.slug}/money/payouts/1/paid", {"reference": "OUT-1", "confirmed": "yes"}
    )
    assert again.status_code == 409
    (totals,) = services.totals(db_session, group.id)
    assert (totals.paid_out, totals.in_transit, totals.held) == (150, 0, 1350)
    assert balance(db_session, group, member) == start
    assert verify(db_session, group.id).intact


def test_a_withdrawn_payout_returns_to_the_balance_by_a_reversal(scene, db_session, app):
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    group, member = scene["group"], scene["members"][0]
    before = balance(db_session, group, member)
    with app.app_context():
        payout = services.ask_payout(
            db_session, group, member, amount=before, currency="EUR", pay_to="ES1"
        )
        assert balance(db_session, group, member) == 0
        with pytest.raises(services.OverBalance):
            services.ask_payout(db_session, group, member, amount=1, currency="EUR", pay_to="ES1")
        services.cancel_payout(db_session, payout, actor=member, as_admin=False)
        with pytest.raises(services.PayoutNotOpen):
            services.cancel_payout(db_session, payout, actor=member, as_admin=False)
        db_session.commit()
    assert balance(db_session, group, member) == before
    kinds = db_session.scalars(
        select(LedgerTransaction.kind)
        .where(LedgerTransaction.group_id == group.id)
        .order_by(LedgerTransaction.number)
    )
    assert list(kinds)[-2:] == [TransactionKind.PAYOUT_ASKED, TransactionKind.REVERSAL]


@pytest.mark.parametrize("amount", [0, -1, 10**13, 1.5, True])
def test_a_payout_of_a_bad_amount_is_refused(scene, db_session, app, amount):
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    with app.app_context(), pytest.raises(services.MoneyError):
        services.ask_payout(
            db_session,
            scene["group"],
            scene["members"][0],
            amount=amount,
            currency="EUR",
            pay_to="ES1",
        )


# --- the ledger itself -----------------------------------------------------------------


def _two_legs(db_session, group_id, amount=100, other=-100, **fields):
    reserve = account(db_session, group_id, "EUR", AccountKind.RESERVE)
    clearing = account(db_session, group_id, "EUR", AccountKind.CLEARING)
    return post(
        db_session,
        Posting(
            group_id,
            "EUR",
            TransactionKind.INVOICE,
            [Leg(clearing, amount), Leg(reserve, other)],
            **fields,
        ),
    )


def test_the_service_refuses_legs_that_do_not_balance_and_repeats_nothing(scene, db_session, app):
    group_id = scene["group"].id
    with app.app_context():
        with pytest.raises(LedgerError):
            _two_legs(db_session, group_id, 100, -99)
        with pytest.raises(LedgerError):
            _two_legs(db_session, group_id, 100.0, -100)
        first = _two_legs(db_session, group_id, idempotency_key="outside:1")
        assert _two_legs(db_session, group_id, idempotency_key="outside:1") is first
        db_session.commit()
    assert (
        db_session.scalar(
            select(func.count()).where(LedgerTransaction.group_id == scene["group"].id)
        )
        == 1
    )


def _force_checks(db_session):
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(text("SET CONSTRAINTS ledger_transaction_balanced IMMEDIATE"))


def _raw_entry(db_session, group_id, number, account_id, amount):
    db_session.execute(
        text(
            "INSERT INTO ledger_entries (group_id, transaction_number, account_id, amount) "
            "VALUES (:g, :n, :a, :amount)"
        ),
        {"g": group_id, "n": number, "a": account_id, "amount": amount},
    )


def _raw_header(db_session, group_id, number):
    db_session.execute(
        text(
            "INSERT INTO ledger_transactions (group_id, number, kind, currency, memo, details, "
            "created_at, previous_hash, hash) VALUES (:g, :n, 'invoice', 'EUR', '', '{}', "
            ":at, :h, :h)"
        ),
        {"g": group_id, "n": number, "at": utcnow().replace(tzinfo=None), "h": "0" * 64},
    )


def test_the_database_refuses_a_transaction_that_does_not_add_up(scene, db_session, app):
    group_id = scene["group"].id
    reserve = account(db_session, group_id, "EUR", AccountKind.RESERVE)
    clearing = account(db_session, group_id, "EUR", AccountKind.CLEARING)
    db_session.flush()
    with pytest.raises(DatabaseError, match="adding up to zero"), db_session.begin_nested():
        _force_checks(db_session)
        _raw_entry(db_session, group_id, 1, clearing.id, 100)
        _raw_entry(db_session, group_id, 1, reserve.id, -99)
        _raw_header(db_session, group_id, 1)
        db_session.flush()
    with pytest.raises(DatabaseError, match="adding up to zero"), db_session.begin_nested():
        _force_checks(db_session)
        _raw_entry(db_session, group_id, 1, clearing.id, 0)
        _raw_header(db_session, group_id, 1)  # one leg alone
    usd = account(db_session, group_id, "USD", AccountKind.RESERVE)
    db_session.flush()
    with pytest.raises(DatabaseError, match="adding up to zero"), db_session.begin_nested():
        _force_checks(db_session)
        _raw_entry(db_session, group_id, 1, clearing.id, 100)
        _raw_entry(db_session, group_id, 1, usd.id, -100)  # another currency
        _raw_header(db_session, group_id, 1)


def test_the_database_refuses_changes_deletions_and_entries_after_the_header(
    scene, db_session, app
):
    group_id = scene["group"].id
    with app.app_context():
        first = _two_legs(db_session, group_id)
        db_session.commit()
    reserve = account(db_session, group_id, "EUR", AccountKind.RESERVE)
    for statement in (
        "UPDATE ledger_entries SET amount = amount * 2",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET memo = 'changed'",
        "DELETE FROM ledger_transactions",
    ):
        with (
            pytest.raises(DatabaseError, match="never changed or deleted"),
            db_session.begin_nested(),
        ):
            db_session.execute(text(statement))
    with pytest.raises(DatabaseError, match="already written"), db_session.begin_nested():
        _raw_entry(db_session, group_id, first.number, reserve.id, 0)


def test_a_transaction_is_reversed_once_and_a_reversal_never(scene, db_session, app):
    group_id = scene["group"].id
    with app.app_context():
        first = _two_legs(db_session, group_id)
        undo = reverse(db_session, first, memo="typed twice")
        assert reverse(db_session, first) is undo  # the same correction, not a second
        with pytest.raises(LedgerError):
            reverse(db_session, undo)
        assert undo.reverses_number == first.number
        with pytest.raises(IntegrityError), db_session.begin_nested():
            _two_legs(db_session, group_id, reverses_number=first.number)
        db_session.commit()
    assert verify(db_session, group_id).intact


def _tamper(db_session, statement):
    """Change a row behind the ledger's back, as someone with the database's keys could."""
    with ledger_unlocked(db_session.connection()):
        db_session.execute(text(statement))


def test_verify_finds_a_tampered_row_on_the_page_and_in_the_command(
    scene, db_session, app, make_client
):
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    group = scene["group"]
    client = signed_in(make_client, scene["members"][0])
    intact = client.submit(f"/groups/{group.slug}/money/verify", follow_redirects=True)
    assert "The ledger verifies: 2 transactions and 13 entries" in intact.text
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ledger", "verify"], catch_exceptions=False)
    assert f"{group.slug}: intact (2 transactions, 13 entries)" in result.output
    # Someone moves a cent from one member to another: the sums still add up.
    entries = db_session.scalars(
        select(LedgerEntry.id).where(
            LedgerEntry.group_id == group.id,
            LedgerEntry.transaction_number == 2,
            LedgerEntry.weight == 1,
        )
    ).all()
    _tamper(db_session, f"UPDATE ledger_entries SET amount = amount - 1 WHERE id = {entries[0]}")
    _tamper(db_session, f"UPDATE ledger_entries SET amount = amount + 1 WHERE id = {entries[1]}")
    db_session.expire_all()
    found = verify(db_session, group.id)
    assert [(b.number, b.problem) for b in found.breaks] == [(2, "hash")]
    broken = client.submit(f"/groups/{group.slug}/money/verify", follow_redirects=True)
    assert "The ledger breaks at transaction 2: its content no longer matches its hash" in (
        broken.text
    )
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1 and f"{group.slug}: breaks at transaction 2: hash" in result.output
    # A header rewritten with a hash that matches its new content breaks the next link.
    _tamper(
        db_session,
        f"UPDATE ledger_transactions SET memo = 'x' WHERE group_id = {group.id} AND number = 1",
    )
    db_session.expire_all()
    assert (1, "hash") in [(b.number, b.problem) for b in verify(db_session, group.id).breaks]


def test_every_money_page_refuses_people_outside_the_group(scene, db_session, app, make_client):
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    slug = scene["group"].slug
    stranger = signed_in(make_client, scene["owner"])
    for url in ("/money", "/money/ledger.csv", "/money/mine", "/money/mine.csv", "/money/mine/2"):
        assert stranger.get(f"/groups/{slug}{url}").status_code == 403, url
    assert stranger.submit(f"/groups/{slug}/money/verify").status_code == 403
    assert (
        stranger.submit(f"/groups/{slug}/money/payouts", {"amount": "1", "pay_to": "x"}).status_code
        == 403
    )


def test_a_configured_platform_fee_is_taken_first_and_shown(scene, db_session, app, make_client):
    """2.5 % of 15.00 is 0.37 (rounded down); the reserve's 10 % is of what is left."""
    (invoice,) = tip(scene, db_session, app)
    app.config["PLATFORM_FEE_BASIS_POINTS"] = 250
    try:
        admin = signed_in(make_client, scene["admin"])
        url = f"/groups/{scene['group'].slug}/money/invoices/{invoice.number}/payment"
        assert admin.confirm(url, {"amount": "15.00", "reference": "TRF"}).status_code == 302
    finally:
        app.config["PLATFORM_FEE_BASIS_POINTS"] = 0
    (totals,) = services.totals(db_session, scene["group"].id)
    assert (totals.platform_fee, totals.reserve, totals.distributed) == (37, 146, 1317)
    page = admin.get(f"/groups/{scene['group'].slug}/money").text
    assert 'data-total="platform_fee">€0.37' in page


# --- what a reviewer playing the attacker found ------------------------------------------


def test_an_account_moved_to_another_holder_is_refused_and_found_by_verify(scene, db_session, app):
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    group, victim, thief = scene["group"], scene["members"][0], scene["owner"]
    holder = services.member_account(db_session, group.id, victim.id, "EUR")
    with pytest.raises(DatabaseError, match="keeps its group"), db_session.begin_nested():
        db_session.execute(
            text(f"UPDATE ledger_accounts SET user_id = {thief.id} WHERE id = {holder.id}")
        )
    # Erasure may take the holder's name off, and only that.
    with db_session.begin_nested():
        db_session.execute(
            text(f"UPDATE ledger_accounts SET user_id = NULL WHERE id = {holder.id}")
        )
        db_session.expire_all()
        assert verify(db_session, group.id).intact
        db_session.rollback()
    # Someone with the database's keys moves it anyway: verify names the payment.
    _tamper(db_session, f"UPDATE ledger_accounts SET user_id = {thief.id} WHERE id = {holder.id}")
    db_session.expire_all()
    assert (2, "holder") in [(b.number, b.problem) for b in verify(db_session, group.id).breaks]


def test_a_payout_or_invoice_whose_row_was_changed_is_not_paid(scene, db_session, app, make_client):
    (invoice,) = tip(scene, db_session, app)
    group = scene["group"]
    admin = signed_in(make_client, scene["admin"])
    # The invoice's amount changed behind the ledger's back: the payment is refused.
    db_session.execute(text(f"UPDATE invoices SET amount = 1 WHERE id = {invoice.id}"))
    db_session.commit()
    url = f"/groups/{group.slug}/money/invoices/{invoice.number}/payment"
    refused = admin.submit(url, {"amount": "0.01", "reference": "X", "confirmed": "yes"})
    assert refused.status_code == 409 and "no longer matches the ledger" in refused.text
    db_session.execute(text(f"UPDATE invoices SET amount = 1500 WHERE id = {invoice.id}"))
    db_session.commit()
    pay(scene, db_session, app, invoice)
    with app.app_context():
        payout = services.ask_payout(
            db_session, group, scene["members"][0], amount=150, currency="EUR", pay_to="ES1"
        )
        db_session.commit()
    db_session.execute(text(f"UPDATE payouts SET amount = 1000 WHERE id = {payout.id}"))
    db_session.commit()
    paid = admin.submit(
        f"/groups/{group.slug}/money/payouts/{payout.number}/paid",
        {"reference": "OUT", "confirmed": "yes"},
    )
    assert paid.status_code == 409
    (totals,) = services.totals(db_session, group.id)
    assert (totals.paid_out, totals.in_transit) == (0, 150)


def test_the_ledger_csv_cannot_carry_a_spreadsheet_formula_and_sizes_a_payment_once(
    scene, db_session, app, make, make_client
):
    make.charter(scene["group"], revenue__reserve_spending="admins")
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    group = scene["group"]
    admin = signed_in(make_client, scene["admin"])
    spend = {"amount": "1", "purpose": '=HYPERLINK("http://x")', "pay_to": "Someone"}
    assert admin.confirm(f"/groups/{group.slug}/money/reserve", spend).status_code == 302
    rows = list(csv.reader(io.StringIO(admin.get(f"/groups/{group.slug}/money/ledger.csv").text)))
    cells = [cell for row in rows for cell in row]
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
    assert '\'=HYPERLINK("http://x")' in cells
    payment = next(row for row in rows if len(row) > 2 and row[2] == "payment")
    assert payment[5] == "1500"


def test_a_share_among_fewer_than_k_weighted_members_hides_the_total_weight(
    scene, db_session, app, make, make_client
):
    """Two members with points, k = 3: the total, beside one's own weight, would tell the
    other's points exactly."""
    make.charter(scene["group"], revenue__split="contribution", revenue__points_commitment=0)
    a, c = scene["members"][4], scene["members"][5]
    for person in (a, c):
        make.consent(person, scene["group"])
    make.intent(a, category=make.category("energy-electricity"))
    make.preference(c, category=make.category("energy-electricity"))
    (invoice,) = tip(scene, db_session, app)
    payment = pay(scene, db_session, app, invoice)
    client = signed_in(make_client, c)
    page = client.get(f"/groups/{scene['group'].slug}/money/mine/{payment.transaction_number}").text
    assert "Your weight was 1." in page and "total weight is not shown" in page
    assert "of a total of 3" not in page


def test_a_balance_in_a_second_currency_is_paid_out_in_that_currency(
    scene, db_session, app, make_client
):
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    group, member = scene["group"], scene["members"][0]
    with app.app_context():
        dollars = account(db_session, group.id, "USD", AccountKind.MEMBER, user_id=member.id)
        held = account(db_session, group.id, "USD", AccountKind.CLEARING)
        post(
            db_session,
            Posting(group.id, "USD", TransactionKind.PAYMENT, [Leg(held, 500), Leg(dollars, -500)]),
        )
        db_session.commit()
    client = signed_in(make_client, member)
    url = f"/groups/{group.slug}/money/payouts"
    page = client.get(f"/groups/{group.slug}/money/mine").text
    assert '<option value="USD">' in page
    assert (
        client.submit(url, {"amount": "5", "pay_to": "US1", "currency": "GBP"}).status_code == 400
    )
    assert (
        client.submit(url, {"amount": "5", "pay_to": "US1", "currency": "USD"}).status_code == 302
    )
    assert services.balance_of(db_session, dollars.id) == 0
    assert balance(db_session, group, member) == 193  # the euros are untouched


def test_a_button_posted_without_its_token_is_refused_and_does_nothing(
    scene, db_session, app, make_client
):
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    group, member = scene["group"], scene["members"][0]
    with app.app_context():
        services.ask_payout(db_session, group, member, amount=100, currency="EUR", pay_to="ES")
        db_session.commit()
    client = signed_in(make_client, member)
    assert client.post(f"/groups/{group.slug}/money/verify").status_code == 400
    assert client.post(f"/groups/{group.slug}/money/payouts/1/cancel").status_code == 400
    (payout,) = services.payouts_of(db_session, group)
    assert payout.status == PayoutStatus.ASKED
