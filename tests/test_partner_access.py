"""Who reaches each route of the partner portal and of offers: every route × every kind of
person, generated from the URL map, so that a new route without a row fails here."""

import pytest

from tecopio.partners.models import StaffStatus
from tecopio.partners.services import invite_staff, staff_invitation_token
from tests.conftest import TEST_SECRET_KEY
from tests.factories import PASSWORD

ROLES = [
    "anonymous",
    "member",
    "admin",
    "other_admin",  # admin of another group
    "staff",  # an owner of the invited company
    "other_staff",  # an owner of a company not invited
    "removed_staff",  # removed from the invited company
    "operator",
]
OK, LOGIN, NO = "ok", "login", "no"


def _row(allowed: set[str]) -> dict[str, str]:
    return {
        role: LOGIN if role == "anonymous" else (OK if role in allowed else NO) for role in ROLES
    }


SIGNED_IN = _row(set(ROLES))
MEMBERS = _row({"member", "admin"})
ADMINS = _row({"admin"})
STAFF = _row({"staff"})
OPERATOR = _row({"operator"})

# endpoint -> (method, URL pattern, who gets through)
ROUTES = {
    "partners.index": ("GET", "/partners/", SIGNED_IN),
    "partners.register": ("GET", "/partners/new", SIGNED_IN),
    "partners.show": ("GET", "/partners/{p}", STAFF),
    "partners.edit": ("GET", "/partners/{p}/edit", STAFF),
    "partners.staff": ("GET", "/partners/{p}/staff", STAFF),
    "partners.activity": ("GET", "/partners/{p}/activity", STAFF),
    "partners.remove_staff": ("POST", "/partners/{p}/staff/{colleague}/remove", STAFF),
    "partners.staff_role": ("POST", "/partners/{p}/staff/{colleague}/role", STAFF),
    "partners.revoke_staff_invitation": (
        "POST",
        "/partners/{p}/staff-invitations/{staff_invitation}/revoke",
        STAFF,
    ),
    "partners.staff_invitation": (
        "GET",
        "/partners/staff-invitations/{token}",
        {r: OK for r in ROLES},
    ),
    # Only the invited address may accept: everyone here is someone else.
    "partners.accept_staff_invitation": (
        "POST",
        "/partners/staff-invitations/{token}",
        _row(set()),
    ),
    "partners.verify": ("POST", "/admin/partners/{unverified}/verify", OPERATOR),
    "demand.offers": ("GET", "/groups/{g}/offers", MEMBERS),
    "demand.new_offer": ("GET", "/groups/{g}/offers/new", ADMINS),
    "demand.offer": ("GET", "/groups/{g}/offers/{published}", MEMBERS),
    "demand.edit_offer": ("GET", "/groups/{g}/offers/{draft}/edit", ADMINS),
    "demand.publish": ("POST", "/groups/{g}/offers/{draft}/publish", ADMINS),
    "demand.propose": ("POST", "/groups/{g}/offers/{draft}/propose", ADMINS),
    "demand.cancel": ("POST", "/groups/{g}/offers/{draft}/cancel", ADMINS),
    "demand.invite": ("POST", "/groups/{g}/offers/{published}/invite", ADMINS),
    "demand.company_offer": ("GET", "/partners/{p}/offers/{g}/{published}", STAFF),
    "bids.new_bid": ("GET", "/partners/{p}/offers/{g}/{published}/bid", STAFF),
    "bids.edit_bid": ("GET", "/partners/{p}/offers/{g}/{published}/bid/edit", STAFF),
    "bids.withdraw_bid": ("POST", "/partners/{p}/offers/{g}/{published}/bid/withdraw", STAFF),
    "bids.decline": ("GET", "/partners/{p}/offers/{g}/{published}/decline", STAFF),
    "bids.compare": ("GET", "/groups/{g}/offers/{published}/bids", MEMBERS),
    "bids.score": ("POST", "/groups/{g}/offers/{published}/bids/scores", ADMINS),
    "bids.decide": ("POST", "/groups/{g}/offers/{published}/decide", ADMINS),
    "deals.deal": ("GET", "/groups/{g}/offers/{awarded}/deal", MEMBERS),
    "deals.commit": ("POST", "/groups/{g}/offers/{awarded}/deal/commit", MEMBERS),
    "deals.withdraw": ("POST", "/groups/{g}/offers/{awarded}/deal/withdraw", MEMBERS),
    "deals.contact": ("POST", "/groups/{g}/offers/{awarded}/deal/contact", MEMBERS),
    "deals.rate": ("POST", "/groups/{g}/offers/{awarded}/deal/rating", MEMBERS),
    "feed.index": ("GET", "/groups/{g}/feed", MEMBERS),
    "feed.answer": ("POST", "/partners/{p}/offers/{g}/{published}/answer", STAFF),
    "feed.company_feedback": ("GET", "/partners/{p}/feedback", STAFF),
    "feed.answer_feedback": ("POST", "/partners/{p}/feedback/{g}/answer", STAFF),
}


def test_every_partner_and_offer_route_has_a_row(app):
    endpoints = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("partners.", "demand.", "bids.", "deals.", "feed."))
    }
    assert endpoints == set(ROUTES), "each route needs its row in ROUTES"


def _awarded_offer(make, db_session, group, admin, partner, owner, committed):
    """An offer whose bid the admins accepted: its deal went ahead, ``committed`` (and more
    members up to the tipping point) committed to it, so they may rate it."""
    from datetime import timedelta

    from tecopio.db import utcnow
    from tecopio.demand import bids, deals
    from tecopio.demand.services import invite_companies

    offer = make.offer(group, publish=True)
    invite_companies(db_session, admin, offer, [partner.id])
    bid = make.bid(offer, partner, owner)
    offer.bid_deadline = utcnow() - timedelta(minutes=1)
    bids.decide_by_admin(db_session, admin, offer, bid.id)
    deal = deals.deal_of(db_session, offer)
    more = [make.member(group) for _ in range(deal.tipping_point - len(committed))]
    for person in [*committed, *more]:
        deals.commit(db_session, person, deal, deals.CommitmentValues(quantity=1))
    assert deal.went_ahead
    return offer


@pytest.fixture
def scene(make, db_session):
    group = make.group(partners__accept_bids="admins")
    other = make.group()
    people = {
        "member": make.member(group),
        "admin": make.admins(group)[0].user,
        "other_admin": make.admins(other)[0].user,
        "staff": make.user(),
        "other_staff": make.user(),
        "removed_staff": make.user(),
        "operator": make.user(is_platform_admin=True),
    }
    invited = make.partner(people["staff"], name="Invited Energy")
    make.partner(people["other_staff"], name="Other Energy")
    unverified = make.partner(name="Waiting Energy", verified=False)
    removed = make.staff(invited, people["removed_staff"])
    removed.status = StaffStatus.REMOVED
    colleague = make.staff(invited)
    published = make.offer(group, publish=True)
    from tecopio.demand.services import invite_companies

    invite_companies(db_session, people["admin"], published, [invited.id])
    awarded = _awarded_offer(
        make,
        db_session,
        group,
        people["admin"],
        invited,
        people["staff"],
        [people["member"], people["admin"]],
    )
    draft = make.offer(group)
    invitation = invite_staff(db_session, people["staff"], invited, "newcomer@example.com")
    make.commit()
    values = {
        "p": invited.slug,
        "g": group.slug,
        "colleague": colleague.id,
        "staff_invitation": invitation.id,
        "token": staff_invitation_token(invitation, TEST_SECRET_KEY),
        "unverified": unverified.slug,
        "published": published.number,
        "draft": draft.number,
        "awarded": awarded.number,
    }
    return people, values


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_each_person_reaches_only_what_the_row_says(make_client, scene, endpoint, role):
    people, values = scene
    method, pattern, row = ROUTES[endpoint]
    client = make_client()
    if role != "anonymous":
        login = client.submit("/login", {"email": people[role].email, "password": PASSWORD})
        assert login.status_code == 302
    url = pattern.format(**values)
    response = client.get(url) if method == "GET" else client.submit(url)
    expected = row[role]
    if expected == LOGIN:
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    elif expected == NO:
        assert response.status_code in (403, 404), response.status_code
    else:
        assert response.status_code not in (403, 404, 500), response.status_code
        assert "/login" not in response.headers.get("Location", "")
