"""Every route declares who may reach it, once, and the declaration runs before the view.

Templates ask the same predicates as the routes, and rules that belong to a
state machine are asked of the service that owns it.
"""

import re

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from tecopio import policy
from tecopio.analytics.source import allowed_roots, shared_regions
from tecopio.categories.services import load_tree
from tecopio.governance import decisions
from tecopio.governance.charters import current_charter
from tecopio.governance.models import Proposal
from tecopio.groups.models import MembershipStatus
from tecopio.guards import public, rule_of, undeclared_endpoints
from tecopio.memberdata.models import IntentStatus, member_moves
from tests.factories import PASSWORD


def login(client, user):
    """Sign ``user`` in on this client, signing out whoever was signed in first."""
    client.submit("/logout", {})
    response = client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


def test_every_endpoint_declares_its_access_rule(app):
    assert undeclared_endpoints(app) == []
    declared = {endpoint: rule_of(view) for endpoint, view in app.view_functions.items()}
    assert declared["analytics.export"] == "group: can_export_analytics"
    assert declared["directory.merge"] == "platform: can_manage_directory"
    assert declared["memberdata.delete"] == "own item: can_edit_item"


def test_a_route_that_declares_nothing_is_found():
    app = Flask(__name__)
    app.add_url_rule("/forgot", "forgot", lambda: "x")
    app.add_url_rule("/open", "open", public(lambda: "x"))
    assert undeclared_endpoints(app) == ["forgot"]


@pytest.fixture
def group_world(make):
    admin = make.user()
    group = make.group(admin=admin, membership_policy="approval")
    member = make.member(group)
    other = make.group()
    return group, admin, member, other


def test_a_group_route_refuses_before_the_view_runs(client, make, db_session, group_world):
    """Visitor: login; unknown group: 404; outsider: 403 even for an id that is not there."""
    group, admin, member, other = group_world
    proposal = decisions.open_proposal(
        db_session, admin, group, kind="motion", title="Solar", description=""
    )
    foreign = decisions.open_proposal(
        db_session, make.admin_of(other), other, kind="motion", title="Elsewhere", description=""
    )
    db_session.commit()
    base = f"/groups/{group.slug}/proposals"
    response = client.get(f"{base}/{proposal.number}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(client, make.user())
    assert client.get("/groups/no-such-group/proposals").status_code == 404
    assert client.get(f"{base}/{proposal.number}").status_code == 403
    assert client.get(f"{base}/999999").status_code == 403  # no id is confirmed or denied
    login(client, member)
    assert client.get(f"{base}/{proposal.number}").status_code == 200
    # Numbered within each group: another group's proposal is not reachable from here.
    assert (proposal.number, foreign.number) == (1, 1) and foreign.id != 1
    assert client.get(f"{base}/{foreign.id}").status_code == 404
    assert f"{base}/1" in client.get(base).text
    assert client.get(f"{base}/999999").status_code == 404


def test_a_refused_export_writes_nothing(client, make, db_session, group_world):
    """The rule is asked before the figures are computed: no release, no budget, no commit."""
    group, _admin, member, _other = group_world
    for _ in range(4):
        sharing = make.member(group)
        make.consent(sharing, group, "energy")
        make.intent(sharing)
    login(client, member)
    writes = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if re.match(r"\s*(INSERT|UPDATE|DELETE)", statement, re.IGNORECASE):
            writes.append(statement)

    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", spy)
    try:
        response = client.get(f"/groups/{group.slug}/analytics/demand.csv")
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert response.status_code == 403
    assert writes == []


def test_the_group_tabs_follow_the_predicates(client, make, group_world):
    group, admin, member, _other = group_world
    tabs = ["Members", "Analytics", "Charter", "Decisions", "Invitations", "Audit log", "Settings"]

    def shown(user):
        login(client, user)
        nav = client.get(f"/groups/{group.slug}").text.split('<nav class="tabs"')[1]
        nav = nav.split("</nav>")[0]
        return [tab for tab in tabs if f">{tab}</a>" in nav]

    assert shown(admin) == tabs
    assert shown(member) == ["Members", "Analytics", "Charter", "Decisions"]
    assert shown(make.user()) == []


@pytest.mark.parametrize(
    ("admission", "role", "sees_requests", "puts_to_vote", "admits_alone"),
    [
        ("admins", "admin", True, False, True),
        ("admins", "member", False, False, False),
        ("admins", "outsider", False, False, False),
        ("vote", "admin", True, True, False),
        ("vote", "member", True, True, False),
        ("vote", "outsider", False, False, False),
    ],
)
def test_who_sees_and_decides_requests_to_join(
    client, make, db_session, admission, role, sees_requests, puts_to_vote, admits_alone
):
    admin = make.user()
    group = make.group(admin=admin, membership_policy="approval", membership__admission=admission)
    user = {"admin": admin, "member": make.member(group), "outsider": make.user()}[role]
    request = make.membership(
        group, make.user(display_name="Lucía"), status=MembershipStatus.PENDING
    )
    with client.application.test_request_context():
        assert policy.can_see_join_requests(user, group) is sees_requests
        assert policy.can_put_admission_to_vote(user, group) is puts_to_vote
        assert policy.can_admit_by_decision(user, group) is admits_alone
    login(client, user)
    page = client.get(f"/groups/{group.slug}/members")
    if role == "outsider":
        assert page.status_code == 403
    else:
        assert ("Requests to join" in page.text) is sees_requests
        assert ("Put to a vote" in page.text) is puts_to_vote
        assert (">Approve<" in page.text) is admits_alone
    response = client.submit(f"/groups/{group.slug}/members/{request.id}/admission-vote", {})
    assert response.status_code == (302 if puts_to_vote else 403)
    opened = db_session.scalar(select(func.count(Proposal.id)).where(Proposal.kind == "admission"))
    assert opened == (1 if puts_to_vote else 0)


def test_the_withdraw_button_asks_the_service_rule(client, make, db_session, group_world):
    group, admin, member, _other = group_world
    proposal = decisions.open_proposal(
        db_session, member, group, kind="motion", title="Solar", description=""
    )
    db_session.commit()
    page = f"/groups/{group.slug}/proposals/{proposal.number}"
    login(client, admin)
    assert "Withdraw my proposal" not in client.get(page).text
    login(client, member)
    assert "Withdraw my proposal" in client.get(page).text
    decisions.cast_vote(db_session, admin, proposal, "yes")
    db_session.commit()
    assert not decisions.may_withdraw(db_session, member, proposal)
    assert "Withdraw my proposal" not in client.get(page).text
    assert client.submit(f"{page}/withdraw", {}).status_code == 409


@pytest.mark.parametrize("status", list(IntentStatus))
def test_an_intent_offers_exactly_the_moves_its_state_machine_allows(
    client, make, db_session, status
):
    labels = {
        IntentStatus.FULFILLED: "I bought it",
        IntentStatus.WITHDRAWN: ">Withdraw<",
        IntentStatus.OPEN: "Reopen",
    }
    user = make.user()
    intent = make.intent(user, status=status)
    login(client, user)
    page = client.get("/my/intents").text
    item = page.split(f'id="intent-{intent.id}"')[1].split("</li>")[0]
    offered = {target for target, label in labels.items() if label in item}
    assert offered == set(member_moves(intent))
    assert ("Edit" in item) is (status != IntentStatus.COMMITTED)
    for target in set(IntentStatus) - set(member_moves(intent)):
        response = client.submit(f"/my/intents/{intent.id}/status", {"status": target.value})
        assert response.status_code == 409
        db_session.refresh(intent)
        assert intent.status == status


def test_regions_count_only_members_sharing_what_the_charter_adds_up(db_session, make):
    """A region is offered once k members share a category the group may add up."""
    admin = make.user()
    group = make.group(admin=admin, k_anonymity=3, privacy__categories=["energy"])
    for n in range(3):
        user = make.member(group, region="Getxo", region_key="getxo")
        make.consent(user, group, "energy" if n < 2 else "food")
    tree = load_tree(db_session)
    charter = current_charter(db_session, group)
    roots = allowed_roots(charter, tree)
    assert shared_regions(db_session, group.id, 3) == [("getxo", "Getxo")]
    assert shared_regions(db_session, group.id, 3, roots) == []
    third = make.member(group, region="Getxo", region_key="getxo")
    make.consent(third, group, "energy")
    assert shared_regions(db_session, group.id, 3, roots) == [("getxo", "Getxo")]
