"""Spending from the reserve: a proposal the members vote on, or the admins' decision where
the charter says so; posted once, never more than the reserve holds."""

from sqlalchemy import func, select

from tecopio.governance import decisions
from tecopio.governance.models import Proposal, ProposalStatus
from tecopio.ledger import services
from tecopio.ledger.models import LedgerTransaction, TransactionKind
from tecopio.ledger.posting import verify
from tecopio.ledger.reserve import reserve_balance
from tests.test_ledger import pay, scene, signed_in, tip  # noqa: F401  (scene: the fixture)


def paid(scene, db_session, app):
    (invoice,) = tip(scene, db_session, app)
    pay(scene, db_session, app, invoice)
    assert reserve_balance(db_session, scene["group"].id, "EUR") == 150


def spendings(db_session, group):
    return db_session.scalar(
        select(func.count()).where(
            LedgerTransaction.group_id == group.id,
            LedgerTransaction.kind == TransactionKind.RESERVE_SPENT,
        )
    )


FORM = {"amount": "1.00", "purpose": "Workshop on reading the bill", "pay_to": "Auzolan ES12"}


def test_members_vote_to_spend_from_the_reserve_and_it_is_posted_when_it_passes(
    scene, db_session, app, make_client
):
    paid(scene, db_session, app)
    group = scene["group"]
    member = signed_in(make_client, scene["members"][0])
    opened = member.submit(f"/groups/{group.slug}/money/reserve", FORM)
    assert opened.status_code == 302
    proposal = db_session.scalar(select(Proposal).where(Proposal.kind == "spend_reserve"))
    assert proposal.group_id == group.id and proposal.payload["amount"] == 100
    page = member.get(opened.headers["Location"]).text
    assert "€1.00" in page and "Workshop on reading the bill" in page
    assert spendings(db_session, group) == 0  # nothing spent while the members vote
    with app.app_context():
        for person in [scene["admin"], *scene["members"]]:
            decisions.cast_vote(db_session, person, proposal, "yes")
        decisions.close_proposal(db_session, proposal, proposal.closes_at)
        db_session.commit()
    assert proposal.status == ProposalStatus.PASSED
    assert spendings(db_session, group) == 1
    (totals,) = services.totals(db_session, group.id)
    assert (totals.reserve, totals.spent_from_reserve, totals.held) == (50, 100, 1400)
    assert verify(db_session, group.id).intact
    assert 'data-total="spent_from_reserve">€1.00' in member.get(f"/groups/{group.slug}/money").text


def test_a_vote_that_passes_after_the_reserve_was_spent_spends_nothing(
    scene, db_session, app, make
):
    paid(scene, db_session, app)
    group = scene["group"]
    payload = {"amount": 100, "currency": "EUR", "purpose": "One", "pay_to": "X"}
    with app.app_context():
        from tecopio.ledger.reserve import propose_spending

        first = propose_spending(db_session, scene["members"][0], group, payload)
        second = propose_spending(db_session, scene["members"][1], group, payload)
        for proposal in (first, second):
            for person in [scene["admin"], *scene["members"]]:
                decisions.cast_vote(db_session, person, proposal, "yes")
            decisions.close_proposal(db_session, proposal, proposal.closes_at)
        db_session.commit()
    assert spendings(db_session, group) == 1
    assert "less than this amount" in second.outcome_note
    assert reserve_balance(db_session, group.id, "EUR") == 50


def test_spending_more_than_the_reserve_or_with_bad_input_is_refused(
    scene, db_session, app, make_client
):
    paid(scene, db_session, app)
    group = scene["group"]
    member = signed_in(make_client, scene["members"][0])
    url = f"/groups/{group.slug}/money/reserve"
    too_much = member.submit(url, {**FORM, "amount": "1.51"})
    assert too_much.status_code == 400 and "less than this amount" in too_much.text
    for bad in ({"amount": "0"}, {"amount": "-1"}, {"purpose": ""}, {"pay_to": "a\x00b"}):
        assert member.submit(url, {**FORM, **bad}).status_code == 400, bad
    assert db_session.scalar(select(func.count()).where(Proposal.kind == "spend_reserve")) == 0
    outsider = signed_in(make_client, scene["owner"])
    assert outsider.submit(url, FORM).status_code == 403


def test_where_the_charter_says_so_an_admin_spends_directly_and_members_cannot(
    scene, db_session, app, make, make_client
):
    make.charter(scene["group"], revenue__reserve_spending="admins")
    paid(scene, db_session, app)
    group = scene["group"]
    url = f"/groups/{group.slug}/money/reserve"
    member = signed_in(make_client, scene["members"][0])
    assert member.submit(url, {**FORM, "confirmed": "yes"}).status_code == 403
    admin = signed_in(make_client, scene["admin"])
    done = admin.confirm(url, FORM)
    assert done.status_code == 302
    decision = db_session.scalar(select(Proposal).where(Proposal.kind == "spend_reserve"))
    assert decision.status == ProposalStatus.DECIDED
    assert spendings(db_session, group) == 1
    assert reserve_balance(db_session, group.id, "EUR") == 50


def test_a_reason_with_control_characters_is_refused_not_a_server_error(
    scene, db_session, app, make_client
):
    paid(scene, db_session, app)
    member = signed_in(make_client, scene["members"][0])
    url = f"/groups/{scene['group'].slug}/money/reserve"
    assert member.submit(url, {**FORM, "description": "a\x07b"}).status_code == 400


def test_where_members_vote_an_admin_cannot_spend_directly(scene, db_session, app):
    from tecopio.ledger.reserve import SpentByVote, spend_by_admin

    paid(scene, db_session, app)
    payload = {"amount": 100, "currency": "EUR", "purpose": "One", "pay_to": "X"}
    with app.app_context():
        try:
            spend_by_admin(db_session, scene["admin"], scene["group"], payload)
        except SpentByVote:
            db_session.rollback()
        else:
            raise AssertionError("an admin spent what the members decide")
    assert spendings(db_session, scene["group"]) == 0
