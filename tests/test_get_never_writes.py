"""A GET never writes: every GET route, for every kind of visitor, runs no INSERT, UPDATE or DELETE.

A GET may queue work (a due analytics release); the jobs and POSTs write. Rows put in
a computation's own temporary tables (a draft offer's preview gathers members' shared
rows as a release does) are the connection's alone and dropped at its end: not writes.
Writes that are the point of a GET would be listed in ``ALLOWED_WRITES``,
by endpoint, with why.
"""

import contextlib
import re
from datetime import timedelta

import pytest
from flask import has_request_context, request
from sqlalchemy import event

from tecopio.accounts.services import make_reset_token
from tecopio.db import utcnow
from tecopio.demand.bids import BidValues, submit_bid
from tecopio.demand.services import invite_companies
from tecopio.governance import decisions
from tecopio.groups.models import MembershipStatus
from tecopio.groups.services import invitation_token
from tecopio.partners.services import invite_staff, staff_invitation_token
from tests.conftest import TEST_SECRET_KEY
from tests.factories import PASSWORD, signup_token

ALLOWED_WRITES: dict[str, str] = {
    # Stripe sends the company back here after paying: the payment is fulfilled if the
    # webhook has not done it yet (idempotent; test_ledger_stripe). Stripe chooses the GET.
    "ledger.invoice_paid": "fulfils a Stripe payment the webhook has not reported yet",
}
WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
TEMPORARY = re.compile(r"\s*(INSERT INTO|DELETE FROM|UPDATE) analytics_\w+_[0-9a-f]{12}\b")
PERSONAS = ["anonymous", "outsider", "applicant", "member", "admin", "operator", "staff"]


@pytest.fixture
def world(make, db_session):
    admin = make.user(display_name="Ane")
    group = make.group(admin=admin, membership_policy="approval", k_anonymity=3)
    member = make.member(group, display_name="Jon")
    for person in (admin, member, *[make.member(group) for _ in range(3)]):
        make.consent(person, group, "energy")
        make.intent(person)
    applicant = make.user()
    make.membership(group, applicant, status=MembershipStatus.PENDING)
    proposal = decisions.open_proposal(
        db_session, admin, group, kind="motion", title="Solar", description=""
    )
    # Past its time, not closed yet: reading it must not close it (the job does).
    due = decisions.open_proposal(
        db_session, admin, group, kind="motion", title="Ended", description=""
    )
    due.closes_at = utcnow() - timedelta(minutes=1)
    db_session.commit()
    company = make.company()
    people = {
        "anonymous": None,
        "outsider": make.user(),
        "applicant": applicant,
        "member": member,
        "admin": admin,
        "operator": make.user(is_platform_admin=True),
    }
    items = {
        "preference": make.preference(member),
        "intent": make.intent(member),
        "feedback": make.feedback(member, company=company),
    }
    invitation = make.invitation(group)
    signup = signup_token(db_session)
    people["staff"] = make.user()
    partner = make.partner(people["staff"])
    published = make.offer(group, publish=True)
    invite_companies(db_session, admin, published, [partner.id])
    draft = make.offer(group)
    # Past its deadline, not closed yet: reading its bids must not close it (the job does).
    past = make.offer(group, publish=True)
    invite_companies(db_session, admin, past, [partner.id])
    bid = submit_bid(
        db_session,
        people["staff"],
        partner,
        past,
        BidValues(
            terms_answer="accept",
            price=100,
            fee=0,
            valid_until=past.last_bidding_day + timedelta(days=30),
        ),
    )
    past.bid_deadline = utcnow() - timedelta(minutes=1)
    # A deal past its deadline, not closed yet: reading it must not fail it (the job does).
    from tecopio.demand import deals

    awarded = make.offer(group, publish=True)
    invite_companies(db_session, admin, awarded, [partner.id])
    accepted = submit_bid(
        db_session,
        people["staff"],
        partner,
        awarded,
        BidValues(
            terms_answer="accept",
            price=100,
            fee=0,
            valid_until=awarded.last_bidding_day + timedelta(days=30),
        ),
    )
    deal = deals.open_deal(db_session, awarded, accepted, utcnow())
    deal.deadline = utcnow() - timedelta(minutes=1)
    staff_invitation = invite_staff(db_session, people["staff"], partner, "new@example.com")
    make.commit()
    return {
        "partner": partner,
        "published": published,
        "draft": draft,
        "past": past,
        "awarded": awarded,
        "bid": bid,
        "staff_invitation": staff_invitation,
        "signup_token": signup,
        "group": group,
        "proposal": proposal,
        "due": due,
        "people": people,
        "items": items,
        "company": company,
        "invitation": invitation,
        "member": member,
    }


def urls(world) -> dict[str, list[str]]:
    """A URL (or several) for every GET endpoint, filled from the world."""
    slug = world["group"].slug
    items = world["items"]
    partner = world["partner"].slug
    staff_token = staff_invitation_token(world["staff_invitation"], TEST_SECRET_KEY)
    return {
        "home.index": ["/"],
        "accounts.signup": ["/signup"],
        "accounts.login": ["/login"],
        "accounts.profile": ["/account"],
        "accounts.change_password": ["/account/password"],
        "accounts.request_reset": ["/reset"],
        "accounts.confirm_signup": [f"/signup/confirm/{world['signup_token']}"],
        "accounts.reset_password": [
            f"/reset/{make_reset_token(world['member'], TEST_SECRET_KEY)}",
            "/reset/not-a-token",
        ],
        "groups.index": ["/groups/", "/groups/?q=bilbao"],
        "groups.create": ["/groups/new"],
        "groups.show": [f"/groups/{slug}", "/groups/nowhere"],
        "groups.edit": [f"/groups/{slug}/edit"],
        "groups.members": [f"/groups/{slug}/members"],
        "groups.invitations": [f"/groups/{slug}/invitations"],
        "groups.audit": [f"/groups/{slug}/audit"],
        "groups.invitation": [
            f"/invitations/{invitation_token(world['invitation'], TEST_SECRET_KEY)}",
            "/invitations/forged",
        ],
        "categories.index": ["/categories/"],
        "directory.index": ["/companies/", "/companies/?q=a"],
        "directory.show": [f"/companies/{world['company'].id}"],
        "directory.create": ["/companies/new"],
        "directory.merge": ["/admin/companies/merge"],
        "home.operator": ["/admin/"],
        "memberdata.preferences": ["/my/preferences"],
        "memberdata.new_preference": ["/my/preferences/new"],
        "memberdata.edit_preference": [f"/my/preferences/{items['preference'].id}/edit"],
        "memberdata.intents": ["/my/intents"],
        "memberdata.new_intent": ["/my/intents/new"],
        "memberdata.edit_intent": [f"/my/intents/{items['intent'].id}/edit"],
        "memberdata.feedback": ["/my/feedback"],
        "memberdata.new_feedback": ["/my/feedback/new"],
        "memberdata.edit_feedback": [f"/my/feedback/{items['feedback'].id}/edit"],
        "privacy.my_data": ["/my/data"],
        "privacy.consent": ["/my/consent"],
        "privacy.import_data": ["/my/import"],
        "privacy.import_template": ["/my/import/template-intents.csv"],
        "privacy.erase": ["/my/erase"],
        "analytics.index": [f"/groups/{slug}/analytics", f"/groups/{slug}/analytics?year=1900"],
        "analytics.export": [f"/groups/{slug}/analytics/demand.csv"],
        "governance.charter": [f"/groups/{slug}/charter"],
        "governance.compare": [f"/groups/{slug}/charter/diff?from=1&to=1"],
        "governance.edit": [f"/groups/{slug}/charter/edit"],
        "governance.proposals": [f"/groups/{slug}/proposals"],
        "governance.new_proposal": [f"/groups/{slug}/proposals/new?kind=charter"],
        "governance.proposal": [
            f"/groups/{slug}/proposals/{world['proposal'].number}",
            f"/groups/{slug}/proposals/{world['due'].number}",
        ],
        "notifications.index": ["/notifications"],
        "partners.index": ["/partners/"],
        "partners.register": ["/partners/new"],
        "partners.show": [f"/partners/{partner}"],
        "partners.edit": [f"/partners/{partner}/edit"],
        "partners.staff": [f"/partners/{partner}/staff"],
        "partners.activity": [
            f"/partners/{partner}/activity",
            f"/partners/{partner}/activity?page=9",
        ],
        # Before the first release: reading it does not release the feedback.
        "feed.company_feedback": [f"/partners/{partner}/feedback"],
        "partners.staff_invitation": [
            f"/partners/staff-invitations/{staff_token}",
            "/partners/staff-invitations/forged",
        ],
        "demand.offers": [f"/groups/{slug}/offers"],
        "demand.new_offer": [f"/groups/{slug}/offers/new"],
        "demand.offer": [
            f"/groups/{slug}/offers/{world['published'].number}",
            f"/groups/{slug}/offers/{world['draft'].number}",
        ],
        "demand.edit_offer": [f"/groups/{slug}/offers/{world['draft'].number}/edit"],
        "demand.company_offer": [f"/partners/{partner}/offers/{slug}/{world['published'].number}"],
        "bids.new_bid": [f"/partners/{partner}/offers/{slug}/{world['published'].number}/bid"],
        "bids.edit_bid": [f"/partners/{partner}/offers/{slug}/{world['past'].number}/bid/edit"],
        "bids.decline": [f"/partners/{partner}/offers/{slug}/{world['published'].number}/decline"],
        "bids.compare": [
            f"/groups/{slug}/offers/{world['past'].number}/bids",
            f"/groups/{slug}/offers/{world['published'].number}/bids",
        ],
        "deals.deal": [f"/groups/{slug}/offers/{world['awarded'].number}/deal"],
        "feed.index": [f"/groups/{slug}/feed", f"/groups/{slug}/feed?page=9"],
        "ledger.index": [f"/groups/{slug}/money", f"/groups/{slug}/money?page=9"],
        "ledger.ledger_csv": [f"/groups/{slug}/money/ledger.csv"],
        "ledger.mine": [f"/groups/{slug}/money/mine"],
        "ledger.mine_csv": [f"/groups/{slug}/money/mine.csv"],
        "ledger.my_share": [f"/groups/{slug}/money/mine/1"],
        "ledger.company_invoices": [f"/partners/{partner}/invoices"],
        "ledger.invoice_paid": [f"/partners/{partner}/invoices/{slug}/1/paid?session_id=cs_1"],
        "ledger.payout_account_back": [f"/groups/{slug}/money/payout-account"],
    }


def get_endpoints(app) -> set[str]:
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint != "static"
    }


def test_every_get_route_is_in_the_table(app, world):
    assert set(urls(world)) == get_endpoints(app)


@contextlib.contextmanager
def writes_in_requests(db_session):
    """The INSERT, UPDATE and DELETE statements requests run inside the block."""
    writes: list[str] = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if has_request_context() and WRITE.match(statement) and not TEMPORARY.match(statement):
            writes.append(f"{request.endpoint}: {statement.split(' WHERE')[0][:80]}")

    connection = db_session.connection()
    event.listen(connection, "before_cursor_execute", spy)
    try:
        yield writes
    finally:
        event.remove(connection, "before_cursor_execute", spy)


def test_the_spy_sees_a_request_that_writes(client, db_session, world):
    member = world["member"]
    client.submit("/login", {"email": member.email, "password": PASSWORD})
    with writes_in_requests(db_session) as writes:
        client.submit(f"/groups/{world['group'].slug}/leave", {"confirmed": "yes"})
    assert any(w.startswith("groups.leave: UPDATE memberships") for w in writes)


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_get_writes(client, db_session, world, persona):
    # The release stays due and the proposal unclosed: the worker's jobs are not the GET's.
    client.run_jobs = False
    person = world["people"][persona]
    if person is not None:
        login = client.submit("/login", {"email": person.email, "password": PASSWORD})
        assert login.status_code == 302
    with writes_in_requests(db_session) as writes:
        for addresses in urls(world).values():
            for address in addresses:
                response = client.get(address)
                # 503: "being added up, try again" while the worker publishes a release.
                assert response.status_code < 500 or response.status_code == 503, address
    assert [w for w in writes if w.split(":")[0] not in ALLOWED_WRITES] == []
