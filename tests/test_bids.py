"""Bids: the fixed template and its refusals, editing and withdrawing until the deadline,
sealed bids, the side-by-side comparison and the group's choice (by vote, by its admins,
or no award), and what every company is told."""

from datetime import timedelta
from fractions import Fraction

import pytest
from sqlalchemy import func, select

from tecopio.audit.models import AuditEvent
from tecopio.db import utcnow
from tecopio.demand import bids
from tecopio.demand.models import (
    BID_TRANSITIONS,
    Bid,
    BidEvent,
    BidScore,
    BidStatus,
    InvalidBidTransition,
    OfferStatus,
    PriceBasis,
    next_bid_status,
)
from tecopio.demand.scoring import BidFacts, rank
from tecopio.demand.services import invite_companies
from tecopio.governance.decisions import cast_vote, close_proposal
from tecopio.governance.models import Proposal, ProposalStatus
from tecopio.groups.models import Role
from tecopio.notifications.models import Notification, NotificationKind
from tecopio.notifications.services import notifications_of
from tecopio.notifications.texts import text
from tecopio.partners.models import StaffStatus
from tests.factories import PASSWORD


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def login(client, user):
    response = client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


def values(offer, **changes) -> bids.BidValues:
    base = {
        "terms_answer": "accept",
        "currency": offer.currency,
        "price": 12_000,
        "tier_prices": tuple(11_000 - 500 * i for i, _tier in enumerate(offer.tiers)),
        "fee_kind": "per_member",
        "fee": 500,
        "conditions": "Installed within six weeks.",
        "warranty_months": 24,
        "statements": {"local": "Workshop in Bilbao"},
        "valid_until": offer.last_bidding_day + timedelta(days=30),
    }
    base.update(changes)
    return bids.BidValues(**base)


def form(offer, **changes) -> dict:
    data = {
        "terms_answer": "accept",
        "counter_term": "",
        "currency": offer.currency,
        "price": "120.00",
        "fee_kind": "per_member",
        "fee": "5",
        "conditions": "Installed within six weeks.",
        "warranty_months": "24",
        "statement_local": "Workshop in Bilbao",
        "statement_renewable": "",
        "statement_service": "",
        "valid_until": (offer.last_bidding_day + timedelta(days=30)).isoformat(),
    }
    for i, _tier in enumerate(offer.tiers):
        data[f"tier_prices-{i}"] = f"{110 - 5 * i}.00"
    data.update(changes)
    return data


@pytest.fixture
def scene(make, db_session):
    """A published offer (price 60, renewable 40) with two invited companies, Alpha and Beta."""
    group = make.group()
    admin = make.admins(group)[0].user
    member = make.member(group)
    alpha_owner, beta_owner = make.user(), make.user()
    alpha = make.partner(alpha_owner, name="Alpha Energy")
    beta = make.partner(beta_owner, name="Beta Energy")
    offer = make.offer(group, publish=True, tiers=[])
    invite_companies(db_session, admin, offer, [alpha.id, beta.id])
    make.commit()
    return {
        "group": group,
        "admin": admin,
        "member": member,
        "alpha": alpha,
        "beta": beta,
        "alpha_owner": alpha_owner,
        "beta_owner": beta_owner,
        "offer": offer,
    }


def close_bidding(make, offer):
    offer.bid_deadline = utcnow() - timedelta(minutes=1)
    make.commit()


def company_url(scene, company="alpha", tail=""):
    offer = scene["offer"]
    return f"/partners/{scene[company].slug}/offers/{scene['group'].slug}/{offer.number}{tail}"


# --- the bid's states ---------------------------------------------------------------


@pytest.mark.parametrize("status", [None, *BidStatus])
@pytest.mark.parametrize("event", list(BidEvent))
def test_every_bid_state_and_event_is_in_the_table_or_refused(status, event):
    if (status, event) in BID_TRANSITIONS:
        assert next_bid_status(status, event) == BID_TRANSITIONS[(status, event)]
    else:
        with pytest.raises(InvalidBidTransition):
            next_bid_status(status, event)


def test_a_standing_bid_cannot_be_submitted_again_only_edited():
    assert (BidStatus.SUBMITTED, BidEvent.SUBMIT) not in BID_TRANSITIONS
    assert (None, BidEvent.EDIT) not in BID_TRANSITIONS
    assert (None, BidEvent.WITHDRAW) not in BID_TRANSITIONS


# --- scoring ------------------------------------------------------------------------


def facts(key, price, warranty=0, **manual):
    return BidFacts(key=key, price=price, warranty_months=warranty, manual=manual)


@pytest.mark.parametrize(
    ("basis", "prices", "expected"),
    [
        (PriceBasis.UNIT, [100, 125, 200], [100, 80, 50]),  # lowest ÷ this × 100
        (PriceBasis.UNIT, [300, 300], [100, 100]),
        # 20 % off leaves 80 to pay, 10 % off 90: 80 ÷ 90 × 100
        (PriceBasis.DISCOUNT, [2000, 1000], [100, Fraction(800, 9)]),
    ],
)
def test_price_scores_lowest_over_this(basis, prices, expected):
    ranked, _winner, _nudges = rank(
        [facts(i, p) for i, p in enumerate(prices)], {"price": 100}, basis
    )
    scores = {r.key: r.scores["price"] for r in ranked}
    assert [scores[i] for i in range(len(prices))] == expected


def test_warranty_scores_this_over_the_longest_and_no_warranty_scores_nothing():
    ranked, _w, _n = rank([facts(1, 10, 60), facts(2, 10, 24)], {"warranty": 1}, PriceBasis.UNIT)
    assert {r.key: r.scores["warranty"] for r in ranked} == {1: 100, 2: 40}
    ranked, _w, _n = rank([facts(1, 10, 0), facts(2, 10, 0)], {"warranty": 1}, PriceBasis.UNIT)
    assert {r.key: r.scores["warranty"] for r in ranked} == {1: 0, 2: 0}


def test_totals_weigh_the_criteria_and_an_unscored_criterion_counts_nothing():
    ranked, winner, _nudges = rank(
        [facts(1, 100, renewable=20), facts(2, 125, renewable=100), facts(3, 100)],
        {"price": 60, "renewable": 40, "local": 0},
        PriceBasis.UNIT,
    )
    totals = {r.key: r.total for r in ranked}
    assert totals == {
        1: Fraction(60 * 100 + 40 * 20, 100),
        2: Fraction(60 * 80 + 40 * 100, 100),
        3: 60,
    }
    assert winner == 2 and [r.key for r in ranked] == [2, 1, 3]
    assert "local" not in ranked[0].scores  # a weight of 0 does not count
    assert next(r for r in ranked if r.key == 3).scores["renewable"] is None


def test_a_shared_first_place_has_no_winner():
    _ranked, winner, _nudges = rank([facts(1, 100), facts(2, 100)], {"price": 1}, PriceBasis.UNIT)
    assert winner is None


def test_the_nudges_name_each_weight_change_that_changes_the_winner():
    weights = {"price": 50, "renewable": 50}
    # 1: (50*100 + 50*80) / 100 = 90; 2: (50*96.15 + 50*100) / 100 = 98.08 — robust.
    robust = [facts(1, 100, renewable=80), facts(2, 104, renewable=100)]
    _r, winner, nudges = rank(robust, weights, PriceBasis.UNIT)
    assert winner == 2 and nudges == []
    # 1: 95.0; 2: (50*90.91 + 50*100) / 100 = 95.45 — 2 first by a hair.
    knife_edge = [facts(1, 100, renewable=90), facts(2, 110, renewable=100)]
    _r, winner, nudges = rank(knife_edge, weights, PriceBasis.UNIT)
    assert winner == 2
    assert {(n.criterion, n.factor, n.winner) for n in nudges} == {
        # price at 55: 1 = (5500 + 4500) / 105, 2 = (5000 + 5000) / 105: a tie
        ("price", Fraction(11, 10), None),
        # renewable at 45: 1 = (5000 + 4050) / 95 = 95.26, 2 = (4545.45 + 4500) / 95 = 95.21
        ("renewable", Fraction(9, 10), 1),
    }


# --- the template and its refusals --------------------------------------------------


def test_an_invited_company_bids_once_and_the_group_learns_nothing_until_the_deadline(
    scene, db_session
):
    offer = scene["offer"]
    bid = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    assert bid.status == BidStatus.SUBMITTED and bid.price == 12_000 and bid.fee == 500
    with pytest.raises(bids.AlreadyBid):
        bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    assert count(db_session, Bid) == 1
    actions = db_session.scalars(select(AuditEvent.action)).all()
    assert "bid.submitted" in actions


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"fee": -1}, "fee"),
        ({"fee": 12.5}, "fee"),
        ({"fee": True}, "fee"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "GBP"}, "currency"),  # known, but not the offer's
        ({"price": 0}, "price"),
        ({"price": "120"}, "price"),
        ({"terms_answer": "maybe"}, "terms_answer"),
        ({"terms_answer": "counter", "counter_term": "  "}, "counter_term"),
        ({"fee_kind": "yearly"}, "fee_kind"),
        ({"warranty_months": -3}, "warranty_months"),
        ({"valid_until": None}, "valid_until"),
        ({"statements": {"colour": "green"}}, "statements"),
        ({"tier_prices": (10_000,)}, "tier_prices"),  # the offer asks for no tier
    ],
)
def test_a_bid_with_a_wrong_field_is_refused_and_nothing_is_written(
    scene, db_session, changes, field
):
    offer = scene["offer"]
    with pytest.raises(bids.InvalidBid) as refused:
        bids.submit_bid(
            db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer, **changes)
        )
    assert field in refused.value.errors
    db_session.rollback()
    assert count(db_session, Bid) == 0


def test_a_bid_must_hold_until_the_group_can_decide(scene, db_session):
    offer = scene["offer"]
    earliest = bids.earliest_validity(db_session, offer)
    assert earliest == offer.last_bidding_day + timedelta(days=7 + 7)
    with pytest.raises(bids.InvalidBid):
        bids.submit_bid(
            db_session,
            scene["alpha_owner"],
            scene["alpha"],
            offer,
            values(offer, valid_until=earliest - timedelta(days=1)),
        )
    bid = bids.submit_bid(
        db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer, valid_until=earliest)
    )
    assert bid.valid_until == earliest


def test_tier_prices_never_get_worse_for_members(make, db_session):
    group = make.group(company_k=10)
    owner = make.user()
    partner = make.partner(owner)
    offer = make.offer(group, publish=True, tipping_point=10, tiers=[20, 30])
    invite_companies(db_session, make.admins(group)[0].user, offer, [partner.id])
    with pytest.raises(bids.InvalidBid) as refused:
        bids.submit_bid(
            db_session, owner, partner, offer, values(offer, tier_prices=(11_000, 11_500))
        )
    assert "tier_prices" in refused.value.errors
    with pytest.raises(bids.InvalidBid):
        bids.submit_bid(db_session, owner, partner, offer, values(offer, tier_prices=(11_000,)))
    bid = bids.submit_bid(
        db_session, owner, partner, offer, values(offer, tier_prices=(11_000, 11_000))
    )
    assert bid.tier_prices == [11_000, 11_000]


def test_discounts_grow_with_the_tiers_and_stay_below_a_hundred_percent(make, db_session):
    group = make.group(company_k=10)
    owner = make.user()
    partner = make.partner(owner)
    offer = make.offer(group, publish=True, tipping_point=10, tiers=[20], price_basis="discount")
    invite_companies(db_session, make.admins(group)[0].user, offer, [partner.id])
    for wrong in [(1000,), (10_000,)]:
        with pytest.raises(bids.InvalidBid):
            bids.submit_bid(
                db_session, owner, partner, offer, values(offer, price=1500, tier_prices=wrong)
            )
    bid = bids.submit_bid(
        db_session, owner, partner, offer, values(offer, price=1500, tier_prices=(2000,))
    )
    assert (bid.price, bid.tier_prices) == (1500, [2000])


def test_a_company_not_invited_cannot_bid(make, scene, db_session):
    outsider_owner = make.user()
    outsider = make.partner(outsider_owner, name="Gamma Energy")
    with pytest.raises(bids.NotInvited):
        bids.submit_bid(
            db_session, outsider_owner, outsider, scene["offer"], values(scene["offer"])
        )
    assert count(db_session, Bid) == 0


def test_nothing_is_bid_changed_or_withdrawn_after_the_deadline(make, scene, db_session):
    offer = scene["offer"]
    bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    make.commit()
    close_bidding(make, offer)
    owner, alpha = scene["alpha_owner"], scene["alpha"]
    refusals = [
        lambda: bids.submit_bid(
            db_session, scene["beta_owner"], scene["beta"], offer, values(offer)
        ),
        lambda: bids.update_bid(db_session, owner, alpha, offer, values(offer, price=1)),
        lambda: bids.withdraw_bid(db_session, owner, alpha, offer),
        lambda: bids.decline_offer(db_session, scene["beta_owner"], scene["beta"], offer, "No"),
    ]
    for refused in refusals:
        with pytest.raises(bids.BiddingClosed):
            refused()
        db_session.rollback()
    bid = bids.bid_of(db_session, offer, alpha)
    assert bid.price == 12_000 and bid.status == BidStatus.SUBMITTED
    assert count(db_session, Bid) == 1


def test_a_company_edits_withdraws_and_bids_again_before_the_deadline(scene, db_session):
    offer, owner, alpha = scene["offer"], scene["alpha_owner"], scene["alpha"]
    bids.submit_bid(db_session, owner, alpha, offer, values(offer))
    bids.update_bid(db_session, owner, alpha, offer, values(offer, price=11_500))
    assert bids.bid_of(db_session, offer, alpha).price == 11_500
    bids.withdraw_bid(db_session, owner, alpha, offer)
    with pytest.raises(bids.NoStandingBid):
        bids.update_bid(db_session, owner, alpha, offer, values(offer))
    with pytest.raises(bids.NoStandingBid):
        bids.withdraw_bid(db_session, owner, alpha, offer)
    again = bids.submit_bid(db_session, owner, alpha, offer, values(offer, price=11_000))
    assert again.status == BidStatus.SUBMITTED and again.price == 11_000
    assert count(db_session, Bid) == 1


def test_declining_is_recorded_with_its_reason_and_can_be_reconsidered(scene, db_session):
    offer, owner, beta = scene["offer"], scene["beta_owner"], scene["beta"]
    declined = bids.decline_offer(db_session, owner, beta, offer, "We do not cover Bizkaia yet.")
    assert declined.status == BidStatus.DECLINED
    assert declined.decline_reason == "We do not cover Bizkaia yet."
    bid = bids.submit_bid(db_session, owner, beta, offer, values(offer))
    assert bid.status == BidStatus.SUBMITTED and bid.decline_reason == ""


def test_the_counter_term_is_kept_only_with_a_counter_answer(scene, db_session):
    offer, owner, alpha = scene["offer"], scene["alpha_owner"], scene["alpha"]
    bid = bids.submit_bid(
        db_session, owner, alpha, offer, values(offer, counter_term="Ignored when accepting.")
    )
    assert bid.counter_term == ""
    bids.update_bid(
        db_session,
        owner,
        alpha,
        offer,
        values(offer, terms_answer="counter", counter_term="We may send one survey."),
    )
    assert bid.counter_term == "We may send one survey."


# --- through HTTP -------------------------------------------------------------------


def test_a_company_bids_through_its_portal(make_client, scene, db_session):
    client = make_client()
    login(client, scene["alpha_owner"])
    page = client.get(company_url(scene))
    assert "has not answered yet" in page.text
    response = client.submit(company_url(scene, tail="/bid"), form(scene["offer"]))
    assert response.status_code == 302, response.text
    page = client.get(response.headers["Location"])
    assert "Your bid is in" in page.text and "€120.00" in page.text
    bid = bids.bid_of(db_session, scene["offer"], scene["alpha"])
    assert (bid.price, bid.fee, bid.currency) == (12_000, 500, "EUR")
    twice = client.submit(company_url(scene, tail="/bid"), form(scene["offer"], price="90"))
    assert twice.status_code == 409
    db_session.expire_all()
    assert bids.bid_of(db_session, scene["offer"], scene["alpha"]).price == 12_000


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fee": "-5"}, "cannot be negative"),
        ({"fee": "5.5555"}, "Use at most 2 decimal places"),
        ({"fee": "five"}, "Enter an amount"),
        ({"currency": "XYZ"}, "Unknown currency"),
        ({"currency": "USD"}, "Bids on this offer are in EUR"),
        ({"price": ""}, "Enter an amount"),
        ({"valid_until": ""}, "Enter a date"),
    ],
)
def test_a_wrong_bid_form_says_what_is_wrong_and_writes_nothing(
    make_client, scene, db_session, changes, message
):
    client = make_client()
    login(client, scene["alpha_owner"])
    response = client.submit(company_url(scene, tail="/bid"), form(scene["offer"], **changes))
    assert response.status_code == 400
    assert message in response.text
    assert count(db_session, Bid) == 0


def test_removed_staff_can_no_longer_bid_for_the_company(make, make_client, scene, db_session):
    colleague = make.staff(scene["alpha"])
    make.commit()
    colleague.status = StaffStatus.REMOVED
    make.commit()
    client = make_client()
    login(client, colleague.user)
    response = client.submit(company_url(scene, tail="/bid"), form(scene["offer"]))
    assert response.status_code == 403
    assert count(db_session, Bid) == 0


def test_a_company_sees_only_its_own_bid(make_client, scene, db_session):
    offer = scene["offer"]
    bids.submit_bid(
        db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer, price=99_900)
    )
    db_session.commit()
    client = make_client()
    login(client, scene["beta_owner"])
    page = client.get(company_url(scene, "beta"))
    assert page.status_code == 200 and "999" not in page.text and "Alpha" not in page.text
    # Another company's pages, and the group's comparison, are not there for it.
    assert client.get(company_url(scene, "alpha")).status_code in (403, 404)
    assert client.get(company_url(scene, "alpha", "/bid/edit")).status_code in (403, 404)
    compare = f"/groups/{scene['group'].slug}/offers/{offer.number}/bids"
    close_bidding_now(db_session, offer)
    assert client.get(compare).status_code == 403


def close_bidding_now(db_session, offer):
    offer.bid_deadline = utcnow() - timedelta(minutes=1)
    db_session.commit()


def test_bids_stay_sealed_until_the_deadline_then_compare_side_by_side(
    make_client, scene, db_session
):
    offer = scene["offer"]
    bids.submit_bid(
        db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer, price=10_000)
    )
    bids.submit_bid(
        db_session, scene["beta_owner"], scene["beta"], offer, values(offer, price=12_500)
    )
    db_session.commit()
    client = make_client()
    login(client, scene["member"])
    url = f"/groups/{scene['group'].slug}/offers/{offer.number}/bids"
    sealed = client.get(url)
    assert "stay sealed" in sealed.text and "received so far" not in sealed.text  # no count
    assert "Alpha Energy" not in sealed.text and "€100.00" not in sealed.text
    admin = make_client()
    login(admin, scene["admin"])
    assert "2 bids received so far" in admin.get(url).text  # the admins follow how many
    close_bidding_now(db_session, offer)
    page = client.get(url)
    assert page.status_code == 200
    assert "Alpha Energy" in page.text and "Beta Energy" in page.text
    assert "€100.00" in page.text and "€125.00" in page.text
    # Price 60 %: Alpha 100, Beta 80; renewable 40 % unscored: totals 60 and 48.
    assert ">60<" in page.text and ">48<" in page.text
    assert "Not scored yet" in page.text
    assert "Score the bids" not in page.text  # a member, not an admin


def test_admins_score_what_no_number_gives_and_the_ranking_follows(make_client, scene, db_session):
    offer = scene["offer"]
    alpha = bids.submit_bid(
        db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer, price=10_000)
    )
    beta = bids.submit_bid(
        db_session, scene["beta_owner"], scene["beta"], offer, values(offer, price=12_500)
    )
    db_session.commit()
    client = make_client()
    login(client, scene["admin"])
    url = f"/groups/{scene['group'].slug}/offers/{offer.number}"
    early = client.submit(f"{url}/bids/scores", {f"score-{alpha.id}-renewable": "10"})
    assert early.status_code == 409 and count(db_session, BidScore) == 0
    close_bidding_now(db_session, offer)
    for wrong in ({f"score-{alpha.id}-renewable": "101"}, {f"score-{alpha.id}-price": "50"}):
        assert client.submit(f"{url}/bids/scores", wrong).status_code == 400
    assert (
        client.submit(f"{url}/bids/scores", {f"score-{alpha.id}-renewable": "x"}).status_code == 400
    )
    assert count(db_session, BidScore) == 0
    response = client.submit(
        f"{url}/bids/scores",
        {f"score-{alpha.id}-renewable": "10", f"score-{beta.id}-renewable": "100"},
    )
    assert response.status_code == 302
    page = client.get(f"{url}/bids")
    # Alpha 60 + 4 = 64; Beta 48 + 40 = 88: Beta first.
    assert ">64<" in page.text and ">88<" in page.text
    assert page.text.index("Beta Energy") < page.text.index("Alpha Energy")
    assert db_session.get(type(offer), offer.id).status == OfferStatus.CLOSED


def test_a_member_cannot_score_or_decide(make_client, scene, db_session):
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    close_bidding_now(db_session, offer)
    client = make_client()
    login(client, scene["member"])
    url = f"/groups/{scene['group'].slug}/offers/{offer.number}"
    assert (
        client.submit(f"{url}/bids/scores", {f"score-{alpha.id}-renewable": "5"}).status_code == 403
    )
    assert client.submit(f"{url}/decide", {"choice": str(alpha.id)}).status_code == 403
    assert count(db_session, BidScore) == 0 and count(db_session, Proposal) == 1  # publishing


# --- the group's choice -------------------------------------------------------------


def decided_texts(db_session, user) -> list[str]:
    return [
        text(n)
        for n in notifications_of(db_session, user)
        if n.kind == NotificationKind.OFFER_DECIDED
    ]


def test_members_vote_to_accept_a_bid_and_every_company_is_told(
    make, make_client, scene, db_session, app
):
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    bids.submit_bid(db_session, scene["beta_owner"], scene["beta"], offer, values(offer))
    close_bidding_now(db_session, offer)
    client = make_client()
    login(client, scene["admin"])
    url = f"/groups/{scene['group'].slug}/offers/{offer.number}"
    put_to_vote = client.submit(f"{url}/decide", {"choice": str(alpha.id)})
    assert put_to_vote.status_code == 302  # the charter says: a vote, nothing to confirm
    again = client.submit(f"{url}/decide", {"choice": "none"})
    assert again.status_code == 409  # one vote at a time
    proposal = db_session.scalar(select(Proposal).where(Proposal.kind == "accept_bid"))
    assert proposal.status == ProposalStatus.OPEN and proposal.payload["bid_id"] == alpha.id
    offer = db_session.get(type(offer), offer.id)
    assert offer.status == OfferStatus.CLOSED  # not yet
    with app.app_context():
        for voter in (scene["admin"], scene["member"]):
            cast_vote(db_session, voter, proposal, "yes")
        close_proposal(db_session, proposal, now=proposal.closes_at)
        db_session.commit()  # before the app context ends (it removes the session)
    assert proposal.status == ProposalStatus.PASSED
    assert offer.status == OfferStatus.AWARDED and offer.awarded_partner_id == scene["alpha"].id
    with app.app_context():
        assert decided_texts(db_session, scene["alpha_owner"]) == [
            f"{scene['group'].name} accepted the bid of Alpha Energy on its offer “{offer.title}”."
        ]
        (told_beta,) = decided_texts(db_session, scene["beta_owner"])
    assert "another company's bid" in told_beta and "Alpha" not in told_beta
    page = client.get(f"{url}/bids")
    assert "The group accepted the bid of Alpha Energy" in page.text


def test_scores_stay_as_members_saw_them_while_they_vote(scene, db_session, app):
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    close_bidding_now(db_session, offer)
    with app.app_context():
        bids.score_bids(db_session, scene["admin"], offer, {alpha.id: {"renewable": 40}})
        bids.propose_award(db_session, scene["admin"], offer, alpha.id)
        db_session.commit()
        with pytest.raises(bids.VoteRunning):
            bids.score_bids(db_session, scene["admin"], offer, {alpha.id: {"renewable": 90}})
        db_session.rollback()
        (score,) = db_session.scalars(select(BidScore)).all()
        assert score.score == 40


def test_a_vote_against_leaves_the_offer_undecided(make, scene, db_session, app):
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    close_bidding_now(db_session, offer)
    with app.app_context():
        proposal = bids.propose_award(db_session, scene["admin"], offer, alpha.id)
        for voter in (scene["admin"], scene["member"]):
            cast_vote(db_session, voter, proposal, "no")
        close_proposal(db_session, proposal, now=proposal.closes_at)
        db_session.commit()
    assert proposal.status == ProposalStatus.REJECTED
    assert offer.status == OfferStatus.CLOSED and offer.awarded_partner_id is None
    assert not db_session.scalars(
        select(Notification).where(Notification.kind == NotificationKind.OFFER_DECIDED)
    ).all()


def test_a_passed_vote_on_a_bid_withdrawn_meanwhile_says_why_and_awards_nothing(
    scene, db_session, app
):
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    close_bidding_now(db_session, offer)
    with app.app_context():
        proposal = bids.propose_award(db_session, scene["admin"], offer, alpha.id)
        cast_vote(db_session, scene["admin"], proposal, "yes")
        cast_vote(db_session, scene["member"], proposal, "yes")
        alpha.valid_until = utcnow().date() - timedelta(days=1)  # it expired meanwhile
        close_proposal(db_session, proposal, now=proposal.closes_at)
        db_session.commit()
    assert proposal.status == ProposalStatus.PASSED
    assert "valid only until" in proposal.outcome_note
    assert offer.status == OfferStatus.CLOSED


def test_admins_decide_where_the_charter_lets_them_after_being_asked(
    make, make_client, db_session, app
):
    group = make.group(partners__accept_bids="admins")
    admin = make.admins(group)[0].user
    owner = make.user()
    partner = make.partner(owner, name="Solo Solar")
    offer = make.offer(group, publish=True)
    invite_companies(db_session, admin, offer, [partner.id])
    bid = bids.submit_bid(db_session, owner, partner, offer, values(offer))
    db_session.commit()
    client = make_client()
    login(client, admin)
    url = f"/groups/{group.slug}/offers/{offer.number}"
    early = client.submit(f"{url}/decide", {"choice": str(bid.id), "confirmed": "yes"})
    assert early.status_code == 409  # bidding still open
    close_bidding_now(db_session, offer)
    asked = client.submit(f"{url}/decide", {"choice": str(bid.id)})
    assert asked.status_code == 200 and "cannot be undone" in asked.text
    assert db_session.get(type(offer), offer.id).status == OfferStatus.PUBLISHED  # asked only
    done = client.submit(f"{url}/decide", {"choice": str(bid.id), "confirmed": "yes"})
    assert done.status_code == 302
    db_session.expire_all()
    offer = db_session.get(type(offer), offer.id)
    assert offer.status == OfferStatus.AWARDED and offer.awarded_partner_id == partner.id
    decision = db_session.scalar(select(Proposal).where(Proposal.kind == "accept_bid"))
    assert decision.status == ProposalStatus.DECIDED and decision.payload["company"] == "Solo Solar"
    twice = client.submit(f"{url}/decide", {"choice": "none", "confirmed": "yes"})
    assert twice.status_code == 409
    assert offer.status == OfferStatus.AWARDED
    with app.app_context():
        assert "accepted the bid of Solo Solar" in decided_texts(db_session, owner)[0]


def test_no_award_is_a_valid_choice_and_every_company_hears_it(make, make_client, db_session, app):
    group = make.group(partners__accept_bids="admins")
    admin = make.admins(group)[0].user
    owners = [make.user(), make.user()]
    partners = [make.partner(o, name=f"Company {i}") for i, o in enumerate(owners)]
    offer = make.offer(group, publish=True)
    invite_companies(db_session, admin, offer, [p.id for p in partners])
    bids.submit_bid(db_session, owners[0], partners[0], offer, values(offer))
    db_session.commit()
    close_bidding_now(db_session, offer)
    client = make_client()
    login(client, admin)
    url = f"/groups/{group.slug}/offers/{offer.number}"
    assert client.submit(f"{url}/decide", {"choice": "none", "confirmed": "yes"}).status_code == 302
    db_session.expire_all()
    offer = db_session.get(type(offer), offer.id)
    assert offer.status == OfferStatus.NOT_AWARDED and offer.awarded_partner_id is None
    with app.app_context():
        for owner in owners:
            assert decided_texts(db_session, owner) == [
                f"{group.name} accepted no bid on its offer “{offer.title}”."
            ]


def test_an_admin_cannot_decide_alone_where_members_vote(make_client, scene, db_session):
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    close_bidding_now(db_session, offer)
    with pytest.raises(bids.AcceptedByVote):
        bids.decide_by_admin(db_session, scene["admin"], offer, alpha.id)
    db_session.rollback()
    assert db_session.get(type(offer), offer.id).status != OfferStatus.AWARDED


def test_only_a_standing_bid_of_this_offer_can_be_accepted(make, make_client, scene, db_session):
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    bids.withdraw_bid(db_session, scene["alpha_owner"], scene["alpha"], offer)
    other = make.offer(scene["group"], publish=True)
    invite_companies(db_session, scene["admin"], other, [scene["beta"].id])
    foreign = bids.submit_bid(db_session, scene["beta_owner"], scene["beta"], other, values(other))
    close_bidding_now(db_session, offer)
    client = make_client()
    login(client, scene["admin"])
    url = f"/groups/{scene['group'].slug}/offers/{offer.number}"
    for choice in (str(alpha.id), str(foreign.id), "999999", "alpha"):
        assert client.submit(f"{url}/decide", {"choice": choice}).status_code == 400
    assert count(db_session, Proposal) == 2  # the two publishings, nothing more


# --- refusals a reviewer found ------------------------------------------------------


def test_a_decline_never_drops_a_standing_bid(make_client, scene, db_session):
    offer, owner, alpha = scene["offer"], scene["alpha_owner"], scene["alpha"]
    bids.submit_bid(db_session, owner, alpha, offer, values(offer))
    with pytest.raises(bids.StandingBid):
        bids.decline_offer(db_session, owner, alpha, offer, "Changed our minds")
    db_session.commit()
    client = make_client()
    login(client, owner)
    assert client.get(company_url(scene, tail="/decline")).status_code == 409
    refused = client.submit(company_url(scene, tail="/decline"), {"reason": "No"})
    assert refused.status_code == 409 and "withdraw it first" in refused.text
    db_session.expire_all()
    assert bids.bid_of(db_session, offer, alpha).status == BidStatus.SUBMITTED


def test_withdrawing_with_nothing_standing_is_refused_before_asking(make_client, scene):
    client = make_client()
    login(client, scene["alpha_owner"])
    response = client.submit(company_url(scene, tail="/bid/withdraw"), {})
    assert response.status_code == 409 and "no bid standing" in response.text


def test_the_company_reads_back_all_of_its_own_bid(make_client, scene, db_session):
    offer = scene["offer"]
    bids.submit_bid(
        db_session,
        scene["alpha_owner"],
        scene["alpha"],
        offer,
        values(offer, terms_answer="counter", counter_term="Invoices monthly.", warranty_months=36),
    )
    db_session.commit()
    client = make_client()
    login(client, scene["alpha_owner"])
    page = client.get(company_url(scene)).text
    for seen in (
        "36 months",
        "Invoices monthly.",
        "Installed within six weeks.",
        "Workshop in Bilbao",
    ):
        assert seen in page


def test_the_bid_form_offers_only_the_offers_currency_and_says_how_long_a_bid_holds(
    make_client, scene, db_session
):
    client = make_client()
    login(client, scene["alpha_owner"])
    page = client.get(company_url(scene, tail="/bid")).text
    earliest = bids.earliest_validity(db_session, scene["offer"])
    assert f'value="{scene["offer"].currency}"' in page and 'value="USD"' not in page
    assert f"from {earliest.strftime('%b')}" in page
    unknown = client.submit(company_url(scene, tail="/bid"), form(scene["offer"], currency="XXX"))
    assert unknown.status_code == 400 and "Unknown currency" in unknown.text
    assert count(db_session, Bid) == 0


def test_staff_of_an_invited_company_who_are_members_see_no_rival_bid(
    make, make_client, scene, db_session
):
    """A member who works for a bidder does not learn the competition, nor score or choose."""
    offer, group = scene["offer"], scene["group"]
    insider = make.user()
    make.membership(group, insider, role=Role.ADMIN)
    make.staff(scene["alpha"], insider)
    beta = bids.submit_bid(db_session, scene["beta_owner"], scene["beta"], offer, values(offer))
    db_session.commit()
    client = make_client()
    login(client, insider)
    url = f"/groups/{group.slug}/offers/{offer.number}"
    assert "received so far" not in client.get(url).text
    assert client.get(f"{url}/bids").status_code == 403
    close_bidding_now(db_session, offer)
    offer_page = client.get(url).text
    assert "Compare the bids" not in offer_page and "you do not see the other bids" in offer_page
    assert client.get(f"{url}/bids").status_code == 403
    scored = client.submit(f"{url}/bids/scores", {f"score-{beta.id}-renewable": "0"})
    assert scored.status_code == 403
    assert client.submit(f"{url}/decide", {"choice": "none"}).status_code == 403
    assert count(db_session, BidScore) == 0 and count(db_session, Proposal) == 1


@pytest.mark.parametrize("wrong", ["²", "1" * 40, "-1", " 7x"])
def test_odd_numbers_in_scores_and_choices_are_refused_cleanly(
    make_client, scene, db_session, wrong
):
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    close_bidding_now(db_session, offer)
    client = make_client()
    login(client, scene["admin"])
    url = f"/groups/{scene['group'].slug}/offers/{offer.number}"
    assert (
        client.submit(f"{url}/bids/scores", {f"score-{alpha.id}-renewable": wrong}).status_code
        == 400
    )
    assert client.submit(f"{url}/bids/scores", {f"score-{wrong}-renewable": "5"}).status_code == 400
    choice = client.submit(f"{url}/decide", {"choice": wrong})
    assert choice.status_code == 400 and "Choose a bid, or no bid." in choice.text
    assert count(db_session, BidScore) == 0 and count(db_session, Proposal) == 1


def test_a_score_is_cleared_by_a_blank_and_an_unchanged_form_records_nothing(
    make_client, scene, db_session
):
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    close_bidding_now(db_session, offer)
    client = make_client()
    login(client, scene["admin"])
    url = f"/groups/{scene['group'].slug}/offers/{offer.number}/bids/scores"
    field = f"score-{alpha.id}-renewable"

    def scored():
        return db_session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "bid.scored")
        )

    assert client.submit(url, {field: "40"}).status_code == 302
    assert scored() == 1
    again = client.submit(url, {field: "40"}, follow_redirects=True)
    assert "No score changed." in again.text and scored() == 1
    assert client.submit(url, {field: ""}).status_code == 302
    assert count(db_session, BidScore) == 0 and scored() == 2


def test_the_bids_of_an_offer_that_never_ran_are_not_there(make, make_client, db_session):
    group = make.group()
    admin = make.admins(group)[0].user
    offer = make.offer(group)
    offer.status = OfferStatus.REJECTED
    db_session.commit()
    client = make_client()
    login(client, admin)
    assert client.get(f"/groups/{group.slug}/offers/{offer.number}/bids").status_code == 404


def test_an_admin_decision_waits_for_a_running_vote(make, scene, db_session, app):
    """The charter moved to admins deciding while members vote: the members' vote decides."""
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    close_bidding_now(db_session, offer)
    with app.app_context():
        bids.propose_award(db_session, scene["admin"], offer, alpha.id)
        db_session.commit()
    make.charter(scene["group"], partners__accept_bids="admins")
    with app.app_context(), pytest.raises(bids.VoteRunning):
        bids.decide_by_admin(db_session, scene["admin"], offer, None)
    db_session.rollback()
    assert db_session.get(type(offer), offer.id).status == OfferStatus.CLOSED


def test_bids_that_will_not_hold_until_a_vote_ends_are_not_offered(make_client, scene, db_session):
    offer = scene["offer"]
    alpha = bids.submit_bid(db_session, scene["alpha_owner"], scene["alpha"], offer, values(offer))
    close_bidding_now(db_session, offer)
    alpha.valid_until = utcnow().date() + timedelta(days=1)  # the vote would end later
    db_session.commit()
    client = make_client()
    login(client, scene["admin"])
    page = client.get(f"/groups/{scene['group'].slug}/offers/{offer.number}/bids").text
    assert f'value="{alpha.id}"' not in page and "No longer choosable: Alpha Energy" in page
