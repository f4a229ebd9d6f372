"""Deals: an accepted bid opens one; members commit (perhaps only at a price tier), withdraw
until it tips, and it tips exactly once; past its deadline it fails or completes; the company
is told figures in steps of k members and the contact details only of members who chose."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tecopio.db import utcnow
from tecopio.demand import bids, deals
from tecopio.demand.models import (
    DEAL_TRANSITIONS,
    Commitment,
    DealEvent,
    DealStatus,
    InvalidDealTransition,
    next_deal_status,
)
from tecopio.demand.services import invite_companies
from tecopio.demand.tipping import Pledge, counted, standing
from tecopio.memberdata.models import IntentStatus
from tecopio.memberdata.services import IntentLocked, update_intent
from tecopio.notifications.models import Notification, NotificationKind
from tests.factories import PASSWORD


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def login(client, user):
    response = client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


# --- which commitments count ---------------------------------------------------------


@pytest.mark.parametrize(
    ("pledges", "members", "quantity"),
    [
        ([], 0, 0),
        ([(2, None), (1, None)], 2, 3),
        ([(1, None), (1, 5)], 1, 1),  # waits for 5 members: 2 is not enough
        ([(1, None), (1, None), (1, None), (1, 4), (2, 4)], 5, 6),  # the two hold each other up
        ([(1, None), (1, 4), (1, 4)], 1, 1),  # 3 would be needed for 4: not enough
        ([(1, 3), (1, 3), (1, 3)], 3, 3),  # three conditional ones reach their own tier
        ([(1, None), (1, 3), (1, 9)], 1, 1),  # with the one plain commitment it makes 2 < 3
    ],
)
def test_conditional_commitments_count_once_their_tier_is_reached(pledges, members, quantity):
    found = counted([Pledge(i, q, None, m) for i, (q, m) in enumerate(pledges)])
    assert (found.members, found.quantity) == (members, quantity)


@given(
    st.lists(st.tuples(st.integers(1, 5), st.one_of(st.none(), st.integers(1, 12))), max_size=10)
)
def test_what_counts_is_the_largest_set_that_holds_itself_up(pledges):
    """Checked against every subset of the conditional commitments."""
    pledges = [Pledge(i, q, None, m) for i, (q, m) in enumerate(pledges)]
    found = counted(pledges)
    plain = [p for p in pledges if p.min_members is None]
    conditional = [p for p in pledges if p.min_members is not None]
    best = 0
    for mask in range(2 ** len(conditional)):
        chosen = [p for i, p in enumerate(conditional) if mask >> i & 1]
        if all(p.min_members <= len(plain) + len(chosen) for p in chosen):
            best = max(best, len(chosen))
    assert found.members == len(plain) + best
    assert all(p.key in found.keys for p in plain)
    assert all(p.min_members <= found.members for p in conditional if p.key in found.keys)


def test_the_standing_says_how_many_more_to_tip_and_to_the_next_tier():
    found = counted([Pledge(i, 1) for i in range(4)])
    shown = standing(found, tipping_point=6, tiers=[8, 12])
    assert (shown.to_tip, shown.next_tier, shown.to_next_tier) == (2, 0, 4)
    shown = standing(counted([Pledge(i, 1) for i in range(9)]), 6, [8, 12])
    assert (shown.to_tip, shown.next_tier, shown.to_next_tier) == (0, 1, 3)


@pytest.mark.parametrize("status", list(DealStatus))
@pytest.mark.parametrize("event", list(DealEvent))
def test_every_deal_state_and_event_is_in_the_table_or_refused(status, event):
    if (status, event) in DEAL_TRANSITIONS:
        assert next_deal_status(status, event) == DEAL_TRANSITIONS[(status, event)]
    else:
        with pytest.raises(InvalidDealTransition):
            next_deal_status(status, event)


# --- a deal in a group -----------------------------------------------------------------


@pytest.fixture
def scene(make, db_session, app):
    """An awarded offer (tipping at 3, a tier at 5) in a group of six members plus its admin."""
    group = make.group(k_anonymity=3, privacy__company_k=3, partners__accept_bids="admins")
    admin = make.admins(group)[0].user
    members = [make.member(group) for _ in range(6)]
    owner = make.user()
    partner = make.partner(owner, name="Ekiluz Solar")
    offer = make.offer(group, publish=True, tiers=[5])
    invite_companies(db_session, admin, offer, [partner.id])
    bid = make.bid(
        offer, partner, owner, price=12_000, tier_prices=(11_000,), fee=500, warranty_months=24
    )
    make.intent(members[0], category=make.category("energy-electricity"))
    offer.bid_deadline = utcnow() - timedelta(minutes=1)
    db_session.commit()
    with app.app_context():
        bids.decide_by_admin(db_session, admin, offer, bid.id)
        db_session.commit()
    return {
        "group": group,
        "admin": admin,
        "members": members,
        "owner": owner,
        "partner": partner,
        "offer": offer,
        "deal": deals.deal_of(db_session, offer),
    }


def one(quantity=1, **changes) -> deals.CommitmentValues:
    return deals.CommitmentValues(quantity=quantity, **changes)


def test_an_accepted_bid_opens_a_deal_and_members_who_intend_to_buy_are_told(scene, db_session):
    deal = scene["deal"]
    assert deal.status == DealStatus.OPEN and deal.tipping_point == 3
    assert deal.deadline - deal.created_at == timedelta(days=14)  # the charter's default
    told = db_session.scalars(
        select(Notification.user_id).where(Notification.kind == NotificationKind.DEAL_OPENED)
    ).all()
    assert told == [scene["members"][0].id]  # the only one with an open energy intent


def test_the_deal_tips_exactly_at_the_tipping_point_and_the_company_is_told(scene, db_session, app):
    deal, members = scene["deal"], scene["members"]
    with app.app_context():
        deals.commit(db_session, members[0], deal, one(2, share_contact=True))
        deals.commit(db_session, members[1], deal, one(3))
        assert deal.status == DealStatus.OPEN  # one below
        assert deals.standing_of(db_session, deal).to_tip == 1
        assert deals.contacts(db_session, deal) == []  # nothing before it tips
        deals.commit(db_session, members[2], deal, one(1))
        db_session.commit()
    assert deal.status == DealStatus.TIPPED and deal.tipped_at is not None
    assert (deal.told_members, deal.told_quantity) == (3, 6)
    assert deals.contacts(db_session, deal) == [
        (members[0].display_name, members[0].email)
    ]  # only who chose to share
    kinds = db_session.scalars(select(Notification.kind).where(Notification.deal_id == deal.id))
    kinds = sorted(k.value for k in kinds)
    assert kinds.count("deal_tipped") == 3 and kinds.count("deal_tipped_company") == 1


def test_after_tipping_the_company_learns_only_steps_of_k_members(scene, db_session, app):
    """Told 3 members, it must not learn a 4th's quantity by difference."""
    deal, members = scene["deal"], scene["members"]
    with app.app_context():
        for member in members[:3]:
            deals.commit(db_session, member, deal, one(1))
        deals.commit(db_session, members[3], deal, one(7))
        assert (deal.told_members, deal.told_quantity) == (3, 3)
        deals.commit(db_session, members[4], deal, one(1))
        assert deal.told_members == 3
        deals.commit(db_session, members[5], deal, one(1))
        db_session.commit()
    assert (deal.told_members, deal.told_quantity) == (6, 12)  # three more: a step of k


def test_a_commitment_binds_once_the_deal_tipped_and_not_before(scene, db_session, app):
    deal, members = scene["deal"], scene["members"]
    with app.app_context():
        deals.commit(db_session, members[0], deal, one())
        deals.withdraw(db_session, members[0], deal)
        assert deals.standing_of(db_session, deal).members == 0
        again = deals.commit(db_session, members[0], deal, one(4))
        assert again.quantity == 4 and count(db_session, Commitment) == 1
        for member in members[1:3]:
            deals.commit(db_session, member, deal, one())
        with pytest.raises(deals.Binding):
            deals.withdraw(db_session, members[0], deal)


def test_refusals_write_nothing(make, scene, db_session, app):
    deal, members = scene["deal"], scene["members"]
    outsider = make.user()
    with app.app_context():
        with pytest.raises(deals.NotAMember):
            deals.commit(db_session, outsider, deal, one())
        deals.commit(db_session, members[0], deal, one())
        with pytest.raises(deals.AlreadyCommitted):
            deals.commit(db_session, members[0], deal, one())
        for wrong, field in (
            (one(0), "quantity"),
            (one(-2), "quantity"),
            (one(1.5), "quantity"),
            (one(10**9), "quantity"),
            (one(3, max_quantity=2), "max_quantity"),
            (one(1, tier=1), "tier"),
            (one(1, tier=True), "tier"),
            (one(1, intent_id=999_999), "intent_id"),
        ):
            with pytest.raises(deals.InvalidCommitment) as refused:
                deals.commit(db_session, members[1], deal, wrong)
            assert field in refused.value.errors
        deal.deadline = utcnow() - timedelta(seconds=1)
        with pytest.raises(deals.CommitmentsClosed):
            deals.commit(db_session, members[1], deal, one())
    assert deals.commitment_of(db_session, deal, members[1]) is None


def test_conditional_commitments_tip_the_deal_only_with_their_tier(scene, db_session, app):
    deal, members = scene["deal"], scene["members"]
    with app.app_context():
        for member in members[:4]:
            deals.commit(db_session, member, deal, one(1, tier=0))  # only if 5 commit
        assert deal.status == DealStatus.OPEN
        assert deals.standing_of(db_session, deal).members == 0
        deals.commit(db_session, members[4], deal, one(1))
        db_session.commit()
    assert deal.status == DealStatus.TIPPED and deal.told_members == 5
    assert deals.price_now(deal, 5) == 11_000  # the tier's price


def test_past_its_deadline_a_deal_below_the_tipping_point_fails_and_frees_intents(
    make, scene, db_session, app
):
    deal, member = scene["deal"], scene["members"][0]
    intent = deals.matching_intents(db_session, deal, member)[0]
    with app.app_context():
        deals.commit(db_session, member, deal, one(1, intent_id=intent.id))
        assert intent.status == IntentStatus.COMMITTED
        with pytest.raises(IntentLocked):
            update_intent(db_session, intent, quantity=9)
        deal.deadline = utcnow() - timedelta(seconds=1)
        assert deals.close_due_deals(db_session) == 1
        assert deals.close_due_deals(db_session) == 0  # once
        db_session.commit()
    assert deal.status == DealStatus.FAILED and intent.status == IntentStatus.OPEN
    failed = db_session.scalars(
        select(Notification.kind).where(Notification.deal_id == deal.id)
    ).all()
    assert NotificationKind.DEAL_FAILED in failed and NotificationKind.DEAL_FAILED_COMPANY in failed


def test_a_tipped_deal_completes_and_keeps_only_counted_intents(scene, db_session, app):
    deal, members = scene["deal"], scene["members"]
    intent = deals.matching_intents(db_session, deal, members[0])[0]
    with app.app_context():
        deals.commit(db_session, members[0], deal, one(1, tier=0, intent_id=intent.id))
        for member in members[1:4]:
            deals.commit(db_session, member, deal, one())
        deal.deadline = utcnow() - timedelta(seconds=1)
        deals.close_due_deals(db_session)
        db_session.commit()
    assert deal.status == DealStatus.COMPLETED
    assert intent.status == IntentStatus.OPEN  # its tier was never reached: not bound


# --- through the web ------------------------------------------------------------------


def deal_url(scene, tail=""):
    return f"/groups/{scene['group'].slug}/offers/{scene['offer'].number}/deal{tail}"


def test_a_member_commits_through_the_page_and_sees_how_many_more_to_tip(
    make_client, scene, db_session
):
    client = make_client()
    login(client, scene["members"][1])
    page = client.get(deal_url(scene))
    assert page.status_code == 200 and "3 more commitments to tip" in page.text
    done = client.submit(deal_url(scene, "/commit"), {"quantity": "2", "tier": ""})
    assert done.status_code == 302
    page = client.get(deal_url(scene)).text
    assert "2 more commitments to tip" in page and "You are committed" in page
    twice = client.submit(deal_url(scene, "/commit"), {"quantity": "2"})
    assert twice.status_code == 409
    asked = client.submit(deal_url(scene, "/withdraw"), {})
    assert asked.status_code == 200 and "Withdraw your commitment" in asked.text
    assert client.submit(deal_url(scene, "/withdraw"), {"confirmed": "yes"}).status_code == 302
    assert count(db_session, Commitment) == 1
    assert not deals.commitment_of(db_session, scene["deal"], scene["members"][1]).active


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"quantity": "0"}, "Enter a whole number from 1"),
        ({"quantity": "x"}, ""),
        ({"quantity": "2", "max_quantity": "1"}, "at least the quantity"),
        ({"quantity": "2", "tier": "²"}, "Choose one of the options"),
        ({"quantity": "2", "tier": "4"}, "price tiers"),
        ({"quantity": "2", "intent_id": "12345"}, "open intents"),
    ],
)
def test_a_wrong_commitment_says_what_is_wrong_and_writes_nothing(
    make_client, scene, db_session, data, message
):
    client = make_client()
    login(client, scene["members"][1])
    response = client.submit(deal_url(scene, "/commit"), data)
    assert response.status_code == 400 and message in response.text
    assert count(db_session, Commitment) == 0


def test_only_members_see_or_commit_to_the_deal(make, make_client, scene, db_session):
    outsider = make.user()
    client = make_client()
    login(client, outsider)
    assert client.get(deal_url(scene)).status_code == 403
    assert client.submit(deal_url(scene, "/commit"), {"quantity": "1"}).status_code == 403
    staff = make_client()
    login(staff, scene["owner"])  # the company: not a member
    assert staff.get(deal_url(scene)).status_code == 403
    assert count(db_session, Commitment) == 0


def test_the_company_sees_its_deal_and_only_the_contacts_shared(
    make, make_client, scene, db_session, app
):
    deal, members = scene["deal"], scene["members"]
    with app.app_context():
        deals.commit(db_session, members[0], deal, one(1, share_contact=True))
        deals.commit(db_session, members[1], deal, one(1, share_contact=True))
        deals.commit(db_session, members[2], deal, one(1))
        db_session.commit()
    url = f"/partners/{scene['partner'].slug}/offers/{scene['group'].slug}/{scene['offer'].number}"
    company = make_client()
    login(company, scene["owner"])
    page = company.get(url).text
    assert "The deal goes ahead" in page and "at least 3" in page
    assert members[0].email in page and members[1].email in page
    assert members[2].email not in page
    # A member stops sharing: respected at once.
    member = make_client()
    login(member, members[1])
    assert member.submit(deal_url(scene, "/contact"), {"share": "no"}).status_code == 302
    assert members[1].email not in company.get(url).text
    assert member.submit(deal_url(scene, "/contact"), {"share": "maybe"}).status_code == 400
