"""The whole offer cycle through HTTP, as its people click it: an admin builds and publishes
an offer and invites two companies; both bid; members compare the bids and vote to accept
one; the deal opens, members commit, it tips; the company reads it; members rate it; the
group's feedback release reaches the company, which answers it in the group's feed.

Only time is moved by hand (a deadline set in the past, then the workers' periodic jobs run,
as they would once it passed)."""

from datetime import date, timedelta

from sqlalchemy import select

from tecopio import jobs
from tecopio.analytics.company import latest_feedback_release
from tecopio.db import utcnow
from tecopio.demand.models import Bid, DealStatus, DemandOffer, OfferStatus
from tecopio.demand.services import CRITERIA
from tecopio.governance.models import Proposal, ProposalStatus
from tests.factories import PASSWORD


def signed_in(make_client, user):
    client = make_client()
    response = client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def bid_form(offer, price: str) -> dict:
    return {
        "terms_answer": "accept",
        "counter_term": "",
        "currency": offer.currency,
        "price": price,
        "fee_kind": "per_member",
        "fee": "5",
        "conditions": "Installed within six weeks.",
        "warranty_months": "24",
        "statement_local": "",
        "statement_renewable": "",
        "statement_service": "",
        "valid_until": (offer.last_bidding_day + timedelta(days=40)).isoformat(),
    }


def time_passes(app, db_session) -> None:
    """The workers' periodic jobs run, as they would once a deadline passed."""
    db_session.commit()
    with app.app_context():
        jobs.run_pending(app, periodic=True)
    db_session.expire_all()


def test_offer_invitations_bids_vote_deal_tipping_rating_and_answer(
    make, make_client, db_session, app
):
    group = make.group(
        k_anonymity=3,
        privacy__company_k=3,
        decisions__quorum_percent=0,
        partners__accept_bids="vote",
    )
    admin = make.admins(group)[0].user
    members = [make.member(group) for _ in range(5)]
    for member in members:
        make.consent(member, group, "energy")
        make.intent(member, category=make.category("energy-electricity"))
    alpha_owner, beta_owner = make.user(), make.user()
    alpha = make.partner(alpha_owner, name="Alpha Energy")
    beta = make.partner(beta_owner, name="Beta Energy")
    make.commit()
    base = f"/groups/{group.slug}/offers"
    sessions: dict = {}  # one browser per person, signed in once (logins are rate-limited)

    def as_(user):
        if user.id not in sessions:
            sessions[user.id] = signed_in(make_client, user)
        return sessions[user.id]

    # The admin builds the offer and publishes it (asked first), then invites both companies.
    ane = as_(admin)
    created = ane.submit(
        f"{base}/new",
        {
            "title": "Renewable electricity",
            "category_id": str(make.category("energy").id),
            "terms": "No marketing outside the deal.",
            "tipping_point": "3",
            "tiers": "",
            "deadline": (date.today() + timedelta(days=14)).isoformat(),
            **{f"weight_{key}": "0" for key in CRITERIA},
            "weight_price": "100",
        },
    )
    assert created.status_code == 302
    offer = db_session.scalar(select(DemandOffer).where(DemandOffer.group_id == group.id))
    url = f"{base}/{offer.number}"
    assert "What will happen" in ane.submit(f"{url}/publish").text
    assert ane.submit(f"{url}/publish", {"confirmed": "yes"}).status_code == 302
    invited = ane.submit(f"{url}/invite", {"partner_ids": [alpha.id, beta.id]})
    assert invited.status_code == 302
    db_session.refresh(offer)
    assert offer.status == OfferStatus.PUBLISHED and offer.snapshot is not None

    # Both companies read it in their portal and bid; neither sees the other's bid.
    portal = {}
    for owner, partner, price in ((alpha_owner, alpha, "90.00"), (beta_owner, beta, "120.00")):
        portal[partner.id] = as_(owner)
        offer_url = f"/partners/{partner.slug}/offers/{group.slug}/{offer.number}"
        assert "Renewable electricity" in portal[partner.id].get(offer_url).text
        assert portal[partner.id].submit(
            f"{offer_url}/bid", bid_form(offer, price)
        ).status_code == (302)
    beta_page = portal[beta.id].get(f"/partners/{beta.slug}/offers/{group.slug}/{offer.number}")
    assert "90.00" not in beta_page.text

    # Bidding closes; members compare the bids side by side, cheapest first.
    offer.bid_deadline = utcnow() - timedelta(minutes=1)
    time_passes(app, db_session)
    member = as_(members[0])
    compared = member.get(f"{url}/bids").text
    assert compared.index("Alpha Energy") < compared.index("Beta Energy")

    # The admin puts Alpha's bid to the members' vote; they vote; the vote closes.
    alpha_bid = db_session.scalar(select(Bid).where(Bid.partner_id == alpha.id))
    assert ane.submit(f"{url}/decide", {"choice": str(alpha_bid.id)}).status_code == 302
    vote = db_session.scalar(select(Proposal).where(Proposal.kind == "accept_bid"))
    proposal_url = f"/groups/{group.slug}/proposals/{vote.number}"
    for voter in members[:3]:
        client = as_(voter)
        assert client.submit(f"{proposal_url}/vote", {"choice": "yes"}).status_code == 302
    vote.closes_at = utcnow() - timedelta(seconds=1)
    time_passes(app, db_session)
    assert vote.status == ProposalStatus.PASSED
    assert offer.status == OfferStatus.AWARDED and offer.awarded_partner_id == alpha.id

    # Members commit: one below the tipping point, then exactly at it.
    deal_url = f"{url}/deal"
    for index, voter in enumerate(members[:3]):
        client = as_(voter)
        page = client.get(deal_url).text
        assert f"{3 - index} more commitment" in page
        share = {"share_contact": "y"} if index == 0 else {}
        assert client.submit(f"{deal_url}/commit", {"quantity": "1", **share}).status_code == 302
    page = client.get(deal_url).text
    assert "The deal goes ahead" in page

    # The company reads the deal: the count, and only the contact that was shared.
    deal_page = portal[alpha.id].get(f"/partners/{alpha.slug}/offers/{group.slug}/{offer.number}")
    assert "The deal goes ahead" in deal_page.text and members[0].email in deal_page.text
    assert members[1].email not in deal_page.text
    beta_page = portal[beta.id].get(f"/partners/{beta.slug}/offers/{group.slug}/{offer.number}")
    assert members[0].email not in beta_page.text

    # The three buyers rate the deal for companies to count; a day's release reaches Alpha.
    for voter in members[:3]:
        client = as_(voter)
        rated = client.submit(f"{deal_url}/rating", {"rating": "5", "visibility": "partners"})
        assert rated.status_code == 302
    first = portal[alpha.id].get(f"/partners/{alpha.slug}/feedback").text
    assert "Hidden" in first  # released when bidding closed, before anyone rated
    release = latest_feedback_release(db_session, group.id)
    release.released_at -= timedelta(days=1)  # a day passes
    time_passes(app, db_session)
    feedback = portal[alpha.id].get(f"/partners/{alpha.slug}/feedback").text
    assert group.name in feedback and "Members who rated it" in feedback
    assert "5 / 5" in feedback or "5.0 / 5" in feedback

    # Alpha answers the feedback; the members read it in the group's feed, after the rest.
    answered = portal[alpha.id].submit(
        f"/partners/{alpha.slug}/feedback/{group.slug}/answer",
        {"body": "Thank you: installation starts in March."},
    )
    assert answered.status_code == 302
    feed = member.get(f"/groups/{group.slug}/feed").text
    assert "installation starts in March" in feed
    for line in ("published its offer", "closed with 2 bids", "accepted the bid of Alpha"):
        assert line in feed
    assert feed.index("answered the members") < feed.index("goes ahead: enough members")
    timeline = portal[alpha.id].get(f"/partners/{alpha.slug}/activity").text
    assert "accepted the company&#39;s bid" in timeline and "reached its tipping point" in timeline
    deal = offer_deal(db_session, offer)
    assert deal.status == DealStatus.TIPPED and deal.told_members == 3


def offer_deal(db_session, offer):
    from tecopio.demand.deals import deal_of

    return deal_of(db_session, offer)
