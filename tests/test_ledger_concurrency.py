"""Money under concurrency, for real: separate connections and commits on PostgreSQL."""

import threading

import pytest
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session

from tecopio.accounts.models import User
from tecopio.audit.models import AuditEvent
from tecopio.db import db
from tecopio.groups import services as groups
from tecopio.groups.models import Group, Membership
from tecopio.ledger import services
from tecopio.ledger.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payout,
)
from tecopio.ledger.posting import Leg, Posting, account, post, verify
from tests.conftest import TEST_DATABASE_URL
from tests.factories import PASSWORD_HASH
from tests.ledger_tables import ledger_unlocked

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="SQLite lets one writer in at a time, so these races exist only on PostgreSQL "
    "(run with TECOPIO_TEST_DATABASE_URL, as .ci/run does)",
)


@pytest.fixture
def money_group(app):
    """A group whose member holds 10.00, committed for real; removed afterwards (the ledger's
    rows too, with its triggers set aside for the clean-up only)."""
    with app.app_context():
        admin = User(email="till-admin@example.com", display_name="A", password_hash=PASSWORD_HASH)
        member = User(
            email="till-member@example.com", display_name="M", password_hash=PASSWORD_HASH
        )
        db.session.add_all([admin, member])
        db.session.flush()
        group = groups.create_group(
            db.session, admin, name="Till", description="", region="", policy="open"
        )
        groups.join_group(db.session, member, group)
        holder = account(db.session, group.id, "EUR", AccountKind.MEMBER, user_id=member.id)
        post(
            db.session,
            Posting(
                group.id,
                "EUR",
                "payment",
                [
                    Leg(account(db.session, group.id, "EUR", AccountKind.CLEARING), 1000),
                    Leg(holder, -1000),
                ],
            ),
        )
        db.session.commit()
        ids = {"group": group.id, "member": member.id, "users": [admin.id, member.id]}
    yield ids
    with app.app_context():
        session = db.session
        with ledger_unlocked(session.connection()):
            session.execute(delete(LedgerEntry).where(LedgerEntry.group_id == ids["group"]))
            session.execute(
                delete(LedgerTransaction).where(LedgerTransaction.group_id == ids["group"])
            )
            session.execute(delete(Payout).where(Payout.group_id == ids["group"]))
            session.execute(delete(LedgerAccount).where(LedgerAccount.group_id == ids["group"]))
        session.execute(delete(AuditEvent).where(AuditEvent.group_id == ids["group"]))
        session.execute(delete(Membership).where(Membership.group_id == ids["group"]))
        session.execute(delete(Group).where(Group.id == ids["group"]))
        session.execute(delete(User).where(User.id.in_(ids["users"])))
        session.commit()


def run_together(app, count, action):
    """``count`` sessions, each on its own connection (a pool as large as the crowd), all
    starting the action at once."""
    return run_together_each(app, *[action] * count)


def run_together_each(app, *actions):
    """Each action in its own session and connection, all starting at once."""
    count = len(actions)
    with app.app_context():
        engine = create_engine(db.engine.url, pool_size=count + 2)
    barrier = threading.Barrier(count, timeout=30)
    outcomes = []

    def run(action):
        with Session(engine) as session:
            try:
                action(session, barrier)
                session.commit()
                outcomes.append("done")
            except services.MoneyError as error:
                session.rollback()
                outcomes.append(type(error).__name__)
            except Exception as error:  # reported in the outcomes, never a hung thread
                session.rollback()
                outcomes.append(repr(error))

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    engine.dispose()
    return outcomes


def test_twenty_payouts_at_once_never_take_a_balance_below_zero(app, money_group):
    def ask(session, barrier):
        group = session.get(Group, money_group["group"])
        member = session.get(User, money_group["member"])
        barrier.wait()
        services.ask_payout(session, group, member, amount=150, currency="EUR", pay_to="ES1")

    outcomes = run_together(app, 20, ask)
    assert sorted(outcomes) == ["OverBalance"] * 14 + ["done"] * 6  # 6 × 1.50 ≤ 10.00 < 7 ×
    with app.app_context():
        holder = services.member_account(
            db.session, money_group["group"], money_group["member"], "EUR"
        )
        assert services.balance_of(db.session, holder.id) == 100
        numbers = db.session.scalars(
            select(Payout.number).where(Payout.group_id == money_group["group"])
        ).all()
        assert sorted(numbers) == list(range(1, 7))
        assert verify(db.session, money_group["group"]).intact


def test_postings_at_once_in_one_group_keep_one_unbroken_chain(app, money_group):
    def posting(session, barrier):
        group_id = money_group["group"]
        reserve = account(session, group_id, "EUR", AccountKind.RESERVE)
        clearing = account(session, group_id, "EUR", AccountKind.CLEARING)
        session.commit()
        barrier.wait()
        post(session, Posting(group_id, "EUR", "invoice", [Leg(clearing, 5), Leg(reserve, -5)]))

    outcomes = run_together(app, 12, posting)
    assert outcomes == ["done"] * 12
    with app.app_context():
        result = verify(db.session, money_group["group"])
        assert result.intact and result.transactions == 13


def test_a_payout_asked_while_another_is_refused_does_not_deadlock(app, money_group):
    with app.app_context():
        group = db.session.get(Group, money_group["group"])
        member = db.session.get(User, money_group["member"])
        first = services.ask_payout(
            db.session, group, member, amount=100, currency="EUR", pay_to="ES1"
        )
        db.session.commit()
        payout_id = first.id

    def ask(session, barrier):
        group = session.get(Group, money_group["group"])
        member = session.get(User, money_group["member"])
        barrier.wait()
        services.ask_payout(session, group, member, amount=100, currency="EUR", pay_to="ES1")

    def refuse(session, barrier):
        payout = session.get(Payout, payout_id)
        member = session.get(User, money_group["member"])
        barrier.wait()
        services.cancel_payout(session, payout, actor=member, as_admin=False)

    outcomes = []
    for _ in range(3):
        outcomes += run_together_each(app, ask, refuse)
    assert all(outcome in ("done", "PayoutNotOpen") for outcome in outcomes), outcomes
