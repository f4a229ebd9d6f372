"""The group's feed: offers published, bids counted at the close, decisions, deals that tip or
fail, and companies' answers, newest first, paginated, in the reader's language."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tecopio.db import utcnow
from tecopio.demand import bids, deals
from tecopio.demand.services import close_due_offers, invite_companies
from tecopio.feed import services as feed
from tecopio.feed.models import CompanyAnswer, FeedEntry, FeedKind
from tecopio.partners.models import StaffStatus
from tests.factories import PASSWORD


def login(client, user):
    assert client.submit("/login", {"email": user.email, "password": PASSWORD}).status_code == 302


def kinds(session, group) -> list[str]:
    return [
        e.kind.value
        for e in session.scalars(
            select(FeedEntry).where(FeedEntry.group_id == group.id).order_by(FeedEntry.id)
        )
    ]


@pytest.fixture
def scene(make, db_session, app):
    group = make.group(k_anonymity=3, privacy__company_k=3, partners__accept_bids="admins")
    admin = make.admins(group)[0].user
    members = [make.member(group) for _ in range(3)]
    owner, other_owner = make.user(), make.user()
    partner = make.partner(owner, name="Ekiluz Solar")
    other = make.partner(other_owner, name="Not Invited Energy")
    offer = make.offer(group, publish=True)
    invite_companies(db_session, admin, offer, [partner.id])
    bid = make.bid(offer, partner, owner, price=9_000)
    make.commit()
    return {
        "group": group,
        "admin": admin,
        "members": members,
        "owner": owner,
        "partner": partner,
        "other": other,
        "other_owner": other_owner,
        "offer": offer,
        "bid": bid,
    }


def test_each_step_of_the_cycle_is_in_the_feed(scene, db_session, app):
    offer, group = scene["offer"], scene["group"]
    offer.bid_deadline = utcnow() - timedelta(minutes=1)
    with app.app_context():
        close_due_offers(db_session)
        bids.decide_by_admin(db_session, scene["admin"], offer, scene["bid"].id)
        deal = deals.deal_of(db_session, offer)
        for member in scene["members"]:
            deals.commit(db_session, member, deal, deals.CommitmentValues(quantity=1))
        feed.answer(db_session, scene["owner"], scene["partner"], offer, "Thanks, all!")
        db_session.commit()
    assert kinds(db_session, group) == [
        FeedKind.OFFER_PUBLISHED,
        FeedKind.BIDDING_CLOSED,
        FeedKind.OFFER_AWARDED,
        FeedKind.DEAL_TIPPED,
        FeedKind.COMPANY_ANSWER,
    ]


def test_members_read_the_feed_newest_first_in_their_language(make_client, scene, db_session, app):
    offer = scene["offer"]
    offer.bid_deadline = utcnow() - timedelta(minutes=1)
    with app.app_context():
        close_due_offers(db_session)
        feed.answer(db_session, scene["owner"], scene["partner"], offer, "<b>Thanks</b>, all!")
        db_session.commit()
    client = make_client()
    login(client, scene["members"][0])
    page = client.get(f"/groups/{scene['group'].slug}/feed").text
    assert "closed with 1 bid." in page
    assert page.index("Ekiluz Solar answered") < page.index("closed with 1 bid")
    assert "&lt;b&gt;Thanks&lt;/b&gt;" in page and "<b>Thanks</b>" not in page
    client.submit("/", {"locale": "es"}, action="/language")
    assert "se cerraron con 1 puja" in client.get(f"/groups/{scene['group'].slug}/feed").text


def test_the_feed_pages_twenty_at_a_time(make, make_client, scene, db_session):
    group = scene["group"]
    for _ in range(24):
        db_session.add(
            FeedEntry(group_id=group.id, kind=FeedKind.OFFER_PUBLISHED, offer_id=scene["offer"].id)
        )
    db_session.commit()
    client = make_client()
    login(client, scene["members"][0])
    first = client.get(f"/groups/{group.slug}/feed").text
    second = client.get(f"/groups/{group.slug}/feed?page=2").text
    assert first.count("<time datetime") == 20 and second.count("<time datetime") == 5  # 25 in all
    assert "Older" in first and "Newer" in second and "Older" not in second


def test_only_members_read_the_feed(make, make_client, scene):
    client = make_client()
    login(client, scene["owner"])  # the company's staff are not members
    assert client.get(f"/groups/{scene['group'].slug}/feed").status_code == 403


def answer_url(scene, partner="partner"):
    group, offer = scene["group"], scene["offer"]
    return f"/partners/{scene[partner].slug}/offers/{group.slug}/{offer.number}/answer"


def test_a_company_answers_from_its_portal_and_members_read_it(make_client, scene, db_session):
    client = make_client()
    login(client, scene["owner"])
    done = client.submit(answer_url(scene), {"body": "We install from March."})
    assert done.status_code == 302
    member = make_client()
    login(member, scene["members"][0])
    offer_page = member.get(f"/groups/{scene['group'].slug}/offers/{scene['offer'].number}")
    assert "We install from March." in offer_page.text


@pytest.mark.parametrize("body", ["", "   ", "x" * 2001, "bell\x07"])
def test_a_wrong_answer_is_refused_and_writes_nothing(make_client, scene, db_session, body):
    client = make_client()
    login(client, scene["owner"])
    assert client.submit(answer_url(scene), {"body": body}).status_code == 400
    assert db_session.scalar(select(func.count()).select_from(CompanyAnswer)) == 0


def test_only_invited_current_staff_answer(make, make_client, scene, db_session):
    other = make_client()
    login(other, scene["other_owner"])
    assert other.submit(answer_url(scene, "other"), {"body": "Hello"}).status_code == 404
    removed = make.staff(scene["partner"])
    removed.status = StaffStatus.REMOVED
    db_session.commit()
    client = make_client()
    login(client, removed.user)
    assert client.submit(answer_url(scene), {"body": "Hello"}).status_code == 403
    assert db_session.scalar(select(func.count()).select_from(CompanyAnswer)) == 0
