"""Properties of the split and of the ledger, over many generated cases (hypothesis)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import BigInteger, Integer, literal, select, union_all

from tecopio.ledger.sharing import plan, split_rows
from tecopio.ledger.splits import split

amounts = st.integers(min_value=0, max_value=10**9)


def weights_of(draw_list):
    return [(key, weight) for key, weight in enumerate(draw_list, start=1)]


@settings(max_examples=400, deadline=None)
@given(amount=amounts, weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=60))
def test_a_split_adds_up_exactly_never_negative_and_the_same_every_time(amount, weights):
    keyed = weights_of(weights)
    shares = split(amount, keyed)
    if sum(weights):
        assert sum(s.amount for s in shares) == amount
    else:
        assert all(s.amount == 0 for s in shares)
    assert all(s.amount >= 0 for s in shares)
    assert shares == split(amount, keyed)
    # Each share is its exact part, rounded down or up by less than a cent.
    total = sum(weights) or 1
    for share in shares:
        exact = amount * share.weight / total
        assert share.amount - 1 < exact < share.amount + 1 or share.weight == 0


@settings(max_examples=30, deadline=None)
@given(amount=amounts, members=st.integers(1, 10_000))
def test_equal_splits_among_up_to_ten_thousand_members_add_up(amount, members):
    shares = split(amount, [(key, 1) for key in range(members)])
    assert sum(s.amount for s in shares) == amount
    assert max(s.amount for s in shares) - min(s.amount for s in shares) <= 1
    # The cents left over go to the lowest keys when every remainder is the same.
    extra = [s.key for s in shares if s.extra_cent]
    assert extra == list(range(amount % members))


@settings(max_examples=300, deadline=None)
@given(
    amount=amounts,
    reserve=st.integers(0, 100),
    fee=st.integers(0, 10_000),
)
def test_the_fee_the_reserve_and_the_members_part_add_up_to_the_payment(amount, reserve, fee):
    parts = plan(amount, reserve, fee)
    assert sum(parts) == amount and all(part >= 0 for part in parts)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_a_split_refuses_what_is_not_a_non_negative_integer(bad):
    with pytest.raises(ValueError):
        split(bad, [(1, 1)])
    with pytest.raises(ValueError):
        split(100, [(1, bad)])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(amount=amounts, weights=st.lists(st.integers(1, 10**6), min_size=1, max_size=40))
def test_the_database_splits_exactly_as_the_python_rule(db_session, amount, weights):
    """The one SQL statement that shares a payment among any number of members gives the
    same shares, the same cents left over to the same members, on either database."""
    keyed = weights_of(weights)
    table = union_all(
        *(
            select(
                literal(key, Integer).label("user_id"), literal(weight, BigInteger).label("weight")
            )
            for key, weight in keyed
        )
    ).subquery("weights")
    expected = split(amount, keyed)
    weights_sql = select(table.c.user_id, table.c.weight)
    rows = db_session.execute(split_rows(weights_sql, amount))
    assert {user_id: share for user_id, _weight, share in rows} == {
        s.key: s.amount for s in expected
    }
    # As a payment is shared: the total and the cents left over given as values.
    total = sum(weights)
    left = amount - sum(amount * w // total for w in weights)
    rows = db_session.execute(split_rows(weights_sql, amount, total=total, left=left))
    assert {user_id: share for user_id, _weight, share in rows} == {
        s.key: s.amount for s in expected
    }


# --- the ledger as a state machine -----------------------------------------------------


def test_the_ledger_holds_its_invariants_through_any_sequence_of_money_actions(
    app, db_session, make
):
    """Random invoices paid and shared, refunds and chargebacks of them (some asking more
    than is left), payouts asked, paid and withdrawn, and reversals: after every step each
    transaction adds up to zero, every balance is the sum of its entries (read two ways),
    the group's totals agree with what happened (what was given back never more than was
    paid; what members owe back is their balances below zero), no payout took a balance
    below zero, and the hash chain verifies."""
    from sqlalchemy import func

    from tecopio.db import utcnow
    from tecopio.demand import bids, deals
    from tecopio.demand.models import DealStatus
    from tecopio.demand.services import invite_companies
    from tecopio.ledger import services
    from tecopio.ledger.models import (
        LedgerEntry,
        LedgerTransaction,
        PayoutStatus,
        TransactionKind,
    )
    from tecopio.ledger.posting import already_posted, is_reversed, reverse, verify

    group = make.group(k_anonymity=3, privacy__company_k=3, partners__accept_bids="admins")
    admin = make.admins(group)[0].user
    members = [make.member(group) for _ in range(4)]
    owner = make.user()
    partner = make.partner(owner)
    offer = make.offer(group, publish=True)
    invite_companies(db_session, admin, offer, [partner.id])
    bid = make.bid(offer, partner, owner, fee=100)
    from datetime import timedelta

    offer.bid_deadline = utcnow() - timedelta(minutes=1)
    db_session.commit()
    with app.app_context():
        bids.decide_by_admin(db_session, admin, offer, bid.id)
        deal = deals.deal_of(db_session, offer)
        deal.status = DealStatus.TIPPED
        db_session.commit()
    people = [admin, *members]

    class Ledger(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.savepoint = db_session.begin_nested()
            self.money_in = 0
            self.paid_out = 0
            self.given_back = 0
            self.payments = []
            self.taken = {}  # what each refund or chargeback took back, by its key

        @rule(members=st.integers(1, 50), fee=st.integers(1, 10**6))
        def invoice_paid(self, members, fee):
            deal.bid.fee = fee
            deal.told_members += members
            invoice = services.issue_invoice(db_session, deal)
            payment = services.record_offline_payment(
                db_session,
                invoice,
                amount=invoice.amount,
                currency="EUR",
                reference="TRF",
                actor=admin,
            )
            self.money_in += invoice.amount
            self.payments.append(payment)

        @rule(data=st.data(), part=st.integers(1, 100), chargeback=st.booleans())
        def payment_returned(self, data, part, chargeback):
            """A refund or a chargeback of part of a payment, or of more than is left."""
            shared = [
                p
                for p in self.payments
                if not is_reversed(db_session, already_posted(db_session, f"payment:{p.id}"))
            ]
            if not shared:
                return
            payment = data.draw(st.sampled_from(shared))
            before = services.returned_so_far(db_session, payment)
            key = f"refund:test-{len(self.taken) + 1}"
            services.take_back(
                db_session,
                payment,
                amount=max(payment.amount * part // 100, 1) + (payment.amount if part > 90 else 0),
                kind=TransactionKind.CHARGEBACK if chargeback else TransactionKind.REFUND,
                key=key,
            )
            after = services.returned_so_far(db_session, payment)
            assert before <= after <= payment.amount  # never more than the payment
            self.taken[key] = after - before
            self.given_back += after - before

        @rule(who=st.integers(0, 4), part=st.integers(1, 100))
        def payout_asked(self, who, part):
            person = people[who]
            holder = services.member_account(db_session, group.id, person.id, "EUR")
            available = services.balance_of(db_session, holder.id) if holder else 0
            amount = max(available * part // 100, 1)
            if amount > available:
                try:
                    services.ask_payout(
                        db_session, group, person, amount=amount, currency="EUR", pay_to="ES"
                    )
                except services.OverBalance:
                    return
                raise AssertionError("a payout above the balance was accepted")
            services.ask_payout(
                db_session, group, person, amount=amount, currency="EUR", pay_to="ES"
            )

        @rule(data=st.data(), pay=st.booleans())
        def payout_closed(self, data, pay):
            waiting = [
                p for p in services.payouts_of(db_session, group) if p.status == PayoutStatus.ASKED
            ]
            if not waiting:
                return
            payout = data.draw(st.sampled_from(waiting))
            if pay:
                services.mark_payout_paid(db_session, payout, reference="OUT", actor=admin)
                self.paid_out += payout.amount
            else:
                services.cancel_payout(db_session, payout, actor=admin, as_admin=True)

        @invariant()
        def books_balance(self):
            per_transaction = db_session.execute(
                select(LedgerEntry.transaction_number, func.sum(LedgerEntry.amount))
                .where(LedgerEntry.group_id == group.id)
                .group_by(LedgerEntry.transaction_number)
            ).all()
            assert all(total == 0 for _number, total in per_transaction)
            owed = 0
            for person in people:
                for holder in services.member_accounts(db_session, group.id, person.id):
                    lines = services.statement(db_session, holder)
                    assert lines[-1].balance == services.balance_of(db_session, holder.id)
                    owed += max(-lines[-1].balance, 0)  # a share returned after its payout
            rows = services.totals(db_session, group.id)
            if rows:
                (totals,) = rows
                assert totals.money_in == self.money_in
                assert totals.given_back == self.given_back
                assert totals.paid_out == self.paid_out
                assert totals.held == self.money_in - self.given_back - self.paid_out
                assert totals.owed_back == owed
            assert verify(db_session, group.id).intact

        @rule()
        def last_transaction_reversed(self):
            last = db_session.scalar(
                select(LedgerTransaction)
                .where(LedgerTransaction.group_id == group.id)
                .order_by(LedgerTransaction.number.desc())
                .limit(1)
            )
            if last is None or last.kind not in ("payment", "refund", "chargeback"):
                return
            if last.kind == "payment":
                (payment,) = [p for p in self.payments if f"payment:{p.id}" == last.idempotency_key]
                if services.returned_so_far(db_session, payment):
                    return  # a payment is corrected whole, before any of it was returned
            undo = reverse(db_session, last, memo="correction")
            assert undo.reverses_number == last.number
            if last.kind == "payment":
                self.money_in -= last.details["amount"]
            else:  # a failed refund, a dispute won: what it took comes back
                self.given_back -= self.taken[last.idempotency_key]

        def teardown(self):
            self.savepoint.rollback()

    with app.app_context():
        run_state_machine_as_test(
            Ledger,
            settings=settings(
                max_examples=25,
                stateful_step_count=12,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
