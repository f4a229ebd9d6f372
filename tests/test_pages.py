"""Every page, each visitor: every GET route, for every kind of demo person, answers as the
access table says (200, 302 to the login, 403, 404), never with a server error.

The table is written out by hand, per route, from what each person may do; it is
checked against the pages, not derived from the code that enforces it.
"""

import pytest
from sqlalchemy import select

from tecopio.accounts.services import make_reset_token
from tecopio.demo import DEMO_ENERGY_SLUG, DEMO_PASSWORD, load_demo_data
from tecopio.directory.models import Company
from tecopio.governance.models import Proposal
from tecopio.groups.models import Group, Invitation
from tecopio.groups.services import invitation_token
from tecopio.memberdata.models import Feedback, Intent, Preference
from tests.conftest import TEST_SECRET_KEY

# Who they are in the Bilbao group: no account, its admin, a member, an applicant, and
# the platform's operator (not a member).
PERSONAS = ["anonymous", "ane", "iker", "lucia", "operator"]

LOGIN = 302  # sent to the login page
# Per route: the status for each persona, in PERSONAS order.
EVERYONE = (200, 200, 200, 200, 200)
SIGNED_IN = (LOGIN, 200, 200, 200, 200)
SIGNED_OUT_ONLY = (200, 302, 302, 302, 302)  # signed in: sent home
MEMBERS = (LOGIN, 200, 200, 403, 403)
ADMINS = (LOGIN, 200, 403, 403, 403)
OPERATOR = (LOGIN, 403, 403, 403, 200)
IKERS_OWN = (LOGIN, 404, 200, 404, 404)  # an item of Iker's: anyone else's is "not found"

ACCESS = {
    "home.index": EVERYONE,
    "accounts.signup": SIGNED_OUT_ONLY,
    "accounts.login": SIGNED_OUT_ONLY,
    "accounts.request_reset": EVERYONE,  # a reset link may be asked for from anywhere
    "accounts.reset_password": EVERYONE,
    "accounts.profile": SIGNED_IN,
    "accounts.change_password": SIGNED_IN,
    "groups.index": EVERYONE,
    "groups.show": EVERYONE,
    "groups.invitation": EVERYONE,
    "groups.create": SIGNED_IN,
    "groups.members": MEMBERS,
    "groups.edit": ADMINS,
    "groups.invitations": ADMINS,
    "groups.audit": ADMINS,
    "categories.index": EVERYONE,
    "directory.index": EVERYONE,
    "directory.show": EVERYONE,
    "directory.create": SIGNED_IN,
    "directory.merge": OPERATOR,
    "memberdata.preferences": SIGNED_IN,
    "memberdata.new_preference": SIGNED_IN,
    "memberdata.intents": SIGNED_IN,
    "memberdata.new_intent": SIGNED_IN,
    "memberdata.feedback": SIGNED_IN,
    "memberdata.new_feedback": SIGNED_IN,
    "memberdata.edit_preference": IKERS_OWN,
    "memberdata.edit_intent": IKERS_OWN,
    "memberdata.edit_feedback": IKERS_OWN,
    "privacy.my_data": SIGNED_IN,
    "privacy.consent": SIGNED_IN,
    "privacy.import_data": SIGNED_IN,
    "privacy.import_template": SIGNED_IN,
    "privacy.erase": SIGNED_IN,
    "notifications.index": SIGNED_IN,
    "analytics.index": MEMBERS,
    "analytics.export": ADMINS,
    "governance.charter": MEMBERS,
    "governance.compare": MEMBERS,
    "governance.edit": ADMINS,  # the demo's charter lets its admins change it
    "governance.proposals": MEMBERS,
    "governance.new_proposal": MEMBERS,
    "governance.proposal": MEMBERS,
}


@pytest.fixture
def demo(app, db_session):
    with app.app_context():
        people = load_demo_data(db_session)
        db_session.commit()
    group = db_session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
    iker = people["iker"]

    def first(model, *where):
        return db_session.scalar(select(model).where(*where).order_by(model.id).limit(1))

    invitation = first(Invitation, Invitation.email == "lucia@example.com")
    proposal = first(Proposal, Proposal.group_id == group.id)
    return {
        "people": people,
        "urls": {
            "home.index": "/",
            "accounts.signup": "/signup",
            "accounts.login": "/login",
            "accounts.request_reset": "/reset",
            "accounts.reset_password": f"/reset/{make_reset_token(iker, TEST_SECRET_KEY)}",
            "accounts.profile": "/account",
            "accounts.change_password": "/account/password",
            "groups.index": "/groups/",
            "groups.show": f"/groups/{group.slug}",
            "groups.invitation": f"/invitations/{invitation_token(invitation, TEST_SECRET_KEY)}",
            "groups.create": "/groups/new",
            "groups.members": f"/groups/{group.slug}/members",
            "groups.edit": f"/groups/{group.slug}/edit",
            "groups.invitations": f"/groups/{group.slug}/invitations",
            "groups.audit": f"/groups/{group.slug}/audit",
            "categories.index": "/categories/",
            "directory.index": "/companies/",
            "directory.show": f"/companies/{first(Company).id}",
            "directory.create": "/companies/new",
            "directory.merge": "/admin/companies/merge",
            "memberdata.preferences": "/my/preferences",
            "memberdata.new_preference": "/my/preferences/new",
            "memberdata.intents": "/my/intents",
            "memberdata.new_intent": "/my/intents/new",
            "memberdata.feedback": "/my/feedback",
            "memberdata.new_feedback": "/my/feedback/new",
            "memberdata.edit_preference": (
                f"/my/preferences/{first(Preference, Preference.user_id == iker.id).id}/edit"
            ),
            "memberdata.edit_intent": (
                f"/my/intents/{first(Intent, Intent.user_id == iker.id).id}/edit"
            ),
            "memberdata.edit_feedback": (
                f"/my/feedback/{first(Feedback, Feedback.user_id == iker.id).id}/edit"
            ),
            "privacy.my_data": "/my/data",
            "privacy.consent": "/my/consent",
            "privacy.import_data": "/my/import",
            "privacy.import_template": "/my/import/template-intents.csv",
            "privacy.erase": "/my/erase",
            "notifications.index": "/notifications",
            "analytics.index": f"/groups/{group.slug}/analytics",
            "analytics.export": f"/groups/{group.slug}/analytics/demand.csv",
            "governance.charter": f"/groups/{group.slug}/charter",
            "governance.compare": f"/groups/{group.slug}/charter/diff?from=1&to=2",
            "governance.edit": f"/groups/{group.slug}/charter/edit",
            "governance.proposals": f"/groups/{group.slug}/proposals",
            "governance.new_proposal": f"/groups/{group.slug}/proposals/new?kind=motion",
            "governance.proposal": f"/groups/{group.slug}/proposals/{proposal.number}",
        },
    }


def test_the_table_covers_every_get_route(app, demo):
    routes = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint != "static"
    }
    assert set(ACCESS) == routes
    assert set(demo["urls"]) == routes


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_answers_each_visitor_as_the_table_says(make_client, demo, persona):
    client = make_client()
    if persona != "anonymous":
        email = demo["people"][persona].email
        assert (
            client.submit("/login", {"email": email, "password": DEMO_PASSWORD}).status_code == 302
        )
    column = PERSONAS.index(persona)
    answers = {endpoint: client.get(url).status_code for endpoint, url in demo["urls"].items()}
    expected = {endpoint: ACCESS[endpoint][column] for endpoint in demo["urls"]}
    assert answers == expected


def test_home_for_anonymous_visitor(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "Your demand, your rules." in response.text


def test_dashboard_lists_my_groups(client, auth, make):
    user = auth.login()
    group = make.group(admin=user, name="Bilbao Energy")
    response = client.get("/")
    assert group.name in response.text
