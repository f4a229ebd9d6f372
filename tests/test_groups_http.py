"""Groups through the web: who may see and do what, and what each action writes."""

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tecopio.audit.models import AuditEvent
from tecopio.db import utcnow
from tecopio.governance.charters import current_charter
from tecopio.groups.models import (
    Group,
    Invitation,
    InvitationStatus,
    MembershipPolicy,
    MembershipStatus,
    Role,
)
from tecopio.groups.services import invitation_token, membership_of
from tests.factories import PASSWORD

ROLES = ["anonymous", "outsider", "applicant", "member", "admin", "other_admin"]


@dataclass
class World:
    group: Group
    other_group: Group
    admin: object
    member: object
    applicant: object
    outsider: object
    other_admin: object

    def user(self, role):
        return None if role == "anonymous" else getattr(self, role)


@pytest.fixture
def world(make):
    admin, other_admin = make.user(display_name="Ane"), make.user(display_name="Olga")
    group = make.group(
        admin=admin, name="Bilbao Energy", membership_policy=MembershipPolicy.APPROVAL
    )
    member = make.member(group, display_name="Jon")
    applicant = make.user(display_name="Lucía")
    make.membership(group, applicant, status=MembershipStatus.PENDING)
    other_group = make.group(admin=other_admin, name="Food Circle")
    return World(group, other_group, admin, member, applicant, make.user(), other_admin)


def login(client, user):
    if user is not None:
        response = client.submit("/login", {"email": user.email, "password": PASSWORD})
        assert response.status_code == 302


def audit_count(db_session):
    return db_session.scalar(select(func.count(AuditEvent.id)))


# status expected per role: anonymous, outsider, applicant, member, admin, other group's admin
PAGE_STATUS = {
    "/": [200, 200, 200, 200, 200, 200],
    "/groups/": [200, 200, 200, 200, 200, 200],
    "/groups/new": [302, 200, 200, 200, 200, 200],
    "/groups/{slug}": [200, 200, 200, 200, 200, 200],
    "/groups/{slug}/members": [302, 403, 403, 200, 200, 403],
    "/groups/{slug}/invitations": [302, 403, 403, 403, 200, 403],
    "/groups/{slug}/audit": [302, 403, 403, 403, 200, 403],
    "/groups/{slug}/edit": [302, 403, 403, 403, 200, 403],
    "/account": [302, 200, 200, 200, 200, 200],
    "/account/password": [302, 200, 200, 200, 200, 200],
    "/login": [200, 302, 302, 302, 302, 302],
    "/signup": [200, 302, 302, 302, 302, 302],
    "/reset": [200, 200, 200, 200, 200, 200],
    "/groups/no-such-group": [404, 404, 404, 404, 404, 404],
    "/groups/no-such-group/members": [302, 404, 404, 404, 404, 404],
}


@pytest.mark.parametrize("page", PAGE_STATUS)
@pytest.mark.parametrize("role", ROLES)
def test_page_status_for_each_role(client, world, page, role):
    login(client, world.user(role))
    response = client.get(page.format(slug=world.group.slug))
    assert response.status_code == PAGE_STATUS[page][ROLES.index(role)]
    if response.status_code == 302 and role == "anonymous":
        assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("action", ["approve", "reject", "promote", "demote", "remove"])
@pytest.mark.parametrize("role", ["outsider", "applicant", "member", "other_admin"])
def test_admin_actions_by_non_admins_are_forbidden_and_write_nothing(
    client, world, db_session, action, role
):
    login(client, world.user(role))
    target = world.applicant if action in ("approve", "reject") else world.member
    membership = membership_of(db_session, target, world.group)
    before = (membership.status, membership.role, audit_count(db_session))
    response = client.submit(
        "/", action=f"/groups/{world.group.slug}/members/{membership.id}/{action}"
    )
    assert response.status_code == 403
    db_session.refresh(membership)
    assert (membership.status, membership.role, audit_count(db_session)) == before


def test_anonymous_admin_action_is_sent_to_log_in(client, world, db_session):
    membership = membership_of(db_session, world.applicant, world.group)
    response = client.submit(
        "/", action=f"/groups/{world.group.slug}/members/{membership.id}/approve"
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert membership.status == MembershipStatus.PENDING


def member_action(client, world, user, action):
    """Submit a member action as confirmed: each confirmation has its own test."""
    membership = membership_of(
        client.application.extensions["sqlalchemy"].session, user, world.group
    )
    return client.submit(
        "/",
        {"confirmed": "yes"},
        action=f"/groups/{world.group.slug}/members/{membership.id}/{action}",
    )


def test_admin_approves_an_applicant_who_then_sees_the_members(make_client, world, db_session):
    admin = make_client()
    login(admin, world.admin)
    page = admin.get(f"/groups/{world.group.slug}/members").text
    assert "Lucía" in page and "Requests to join" in page
    response = member_action(admin, world, world.applicant, "approve")
    assert response.status_code == 302
    assert membership_of(db_session, world.applicant, world.group).status == MembershipStatus.ACTIVE
    applicant = make_client()
    login(applicant, world.applicant)
    page = applicant.get(f"/groups/{world.group.slug}/members")
    assert page.status_code == 200
    assert all(name in page.text for name in ("Ane", "Jon", "Lucía"))


@pytest.mark.parametrize(
    "action, target, expected",
    [
        ("reject", "applicant", (MembershipStatus.REJECTED, Role.MEMBER)),
        ("promote", "member", (MembershipStatus.ACTIVE, Role.ADMIN)),
        ("remove", "member", (MembershipStatus.REMOVED, Role.MEMBER)),
    ],
)
def test_admin_actions(client, world, db_session, action, target, expected):
    login(client, world.admin)
    response = member_action(client, world, getattr(world, target), action)
    assert response.status_code == 302
    membership = membership_of(db_session, getattr(world, target), world.group)
    assert (membership.status, membership.role) == expected
    audit = client.get(f"/groups/{world.group.slug}/audit").text
    assert {"reject": "declined the request of", "promote": "made", "remove": "removed"}[
        action
    ] in audit


def test_the_last_admin_cannot_be_demoted_through_the_web(client, world, db_session):
    login(client, world.admin)
    before = audit_count(db_session)
    response = member_action(client, world, world.admin, "demote")
    assert response.status_code == 409
    assert "at least one admin" in response.text
    assert membership_of(db_session, world.admin, world.group).is_admin
    assert audit_count(db_session) == before


def test_wrong_state_action_gets_a_clear_refusal(client, world, db_session):
    login(client, world.admin)
    response = member_action(client, world, world.member, "approve")
    assert response.status_code == 409
    assert "does not apply" in response.text


def test_actions_on_another_groups_membership_or_unknown_actions_are_not_found(
    client, world, db_session
):
    login(client, world.admin)
    foreign = membership_of(db_session, world.other_admin, world.other_group)
    response = client.submit("/", action=f"/groups/{world.group.slug}/members/{foreign.id}/remove")
    assert response.status_code == 404
    assert foreign.status == MembershipStatus.ACTIVE
    assert member_action(client, world, world.member, "explode").status_code == 404


def test_create_a_group(client, auth, db_session):
    user = auth.login()
    response = client.submit(
        "/groups/new",
        {
            "name": "Donostia Repair",
            "description": "Repairable things.\n<script>alert('x')</script>",
            "region": "Donostia",
            "membership_policy": "invitation",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/groups/donostia-repair"
    group = db_session.scalar(select(Group).where(Group.slug == "donostia-repair"))
    assert membership_of(db_session, user, group).is_admin
    assert current_charter(db_session, group).membership_policy == "invitation"
    page = client.get("/groups/donostia-repair").text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<script>" not in page


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"name": ""}, "This field is required."),
        ({"name": "<b>Bold</b>"}, "are not allowed here"),
        ({"name": "n" * 101}, "Use at most 100 characters."),
        ({"region": "r" * 101}, "Use at most 100 characters."),
        ({"description": "d" * 4001}, "Use at most 4000 characters."),
        ({"membership_policy": "secret"}, "Choose one of the options."),
    ],
)
def test_create_group_refuses_bad_input(client, auth, db_session, overrides, message):
    auth.login()
    data = {"name": "Fine", "description": "", "region": "", "membership_policy": "open"}
    data.update(overrides)
    response = client.submit("/groups/new", data)
    assert response.status_code == 400
    assert message in response.text
    assert db_session.scalar(select(func.count(Group.id))) == 0


def test_admin_edits_the_group(client, world, db_session):
    login(client, world.admin)
    response = client.submit(
        f"/groups/{world.group.slug}/edit",
        {"name": "Bilbao Energy", "description": "New text", "region": "Bizkaia"},
    )
    assert response.status_code == 302
    assert (world.group.region, world.group.description) == ("Bizkaia", "New text")
    page = client.get(f"/groups/{world.group.slug}/edit").text
    assert "k_anonymity" not in page and "membership_policy" not in page  # rules: the charter
    assert f"/groups/{world.group.slug}/charter" in page


def test_members_cannot_edit_the_group(client, world, db_session):
    login(client, world.member)
    response = client.submit(
        f"/groups/{world.group.slug}/edit",
        {"name": "Taken over", "description": "", "region": "", "membership_policy": "open"},
    )
    assert response.status_code == 403
    db_session.refresh(world.group)
    assert world.group.name == "Bilbao Energy"


def test_join_an_open_group_and_leave_it(client, auth, make, db_session):
    group = make.group(membership_policy=MembershipPolicy.OPEN)
    user = auth.login()
    response = client.submit("/", action=f"/groups/{group.slug}/join")
    assert response.status_code == 302
    assert membership_of(db_session, user, group).status == MembershipStatus.ACTIVE
    response = client.submit("/", action=f"/groups/{group.slug}/join")
    assert response.status_code == 409
    assert "already a member" in response.text
    response = client.confirm("/", action=f"/groups/{group.slug}/leave")
    assert response.status_code == 302
    assert membership_of(db_session, user, group).status == MembershipStatus.LEFT


def test_asking_to_join_an_approval_group(client, auth, world, db_session):
    user = auth.login()
    client.submit("/", action=f"/groups/{world.group.slug}/join")
    assert membership_of(db_session, user, world.group).status == MembershipStatus.PENDING
    assert "waiting for an admin" in client.get(f"/groups/{world.group.slug}").text
    assert client.get(f"/groups/{world.group.slug}/members").status_code == 403


def test_invitation_only_groups_refuse_direct_joins(client, auth, make, db_session):
    group = make.group(membership_policy=MembershipPolicy.INVITATION)
    user = auth.login()
    response = client.submit("/", action=f"/groups/{group.slug}/join")
    assert response.status_code == 409
    assert "by invitation only" in response.text
    assert membership_of(db_session, user, group) is None


def test_the_last_admin_cannot_leave_through_the_web(client, world, db_session):
    login(client, world.admin)
    response = client.submit("/", action=f"/groups/{world.group.slug}/leave")
    assert response.status_code == 409
    assert membership_of(db_session, world.admin, world.group).is_admin


def invitation_link(message) -> str:
    match = re.search(r"http://localhost(/invitations/\S+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def test_invite_by_email_and_accept_after_signing_up(make_client, world, db_session, mail):
    admin = make_client()
    login(admin, world.admin)
    response = admin.submit(f"/groups/{world.group.slug}/invitations", {"email": "New@Example.com"})
    assert response.status_code == 302
    assert [m["To"] for m in mail] == ["new@example.com"]
    assert "Bilbao Energy" in mail[0]["Subject"]
    link = invitation_link(mail[0])

    newcomer = make_client()
    page = newcomer.get(link)
    assert page.status_code == 200 and "Sign up" in page.text
    response = newcomer.submit(
        "/signup",
        {
            "email": "new@example.com",
            "display_name": "Newcomer",
            "password": "kelp forest walk",
            "next": link,
        },
    )
    assert response.status_code == 200  # "check your email"
    confirm = re.search(r"http://localhost(/signup/confirm/\S+)", mail[-1].get_content()).group(1)
    response = newcomer.submit(confirm, {"password": "kelp forest walk"})
    assert response.headers["Location"] == link
    assert "Accept and join" in newcomer.get(link).text
    response = newcomer.submit("/", action=link + "/accept")
    assert response.status_code == 302
    assert "Newcomer" in admin.get(f"/groups/{world.group.slug}/members").text
    # Answered once: the link cannot be used again.
    assert newcomer.submit("/", action=link + "/accept").status_code == 400


def test_an_invitation_for_someone_else_is_refused(client, world, make, db_session):
    invitation = make.invitation(world.group, email="lucia.other@example.com")
    token = invitation_token(invitation, client.application.config["SECRET_KEY"])
    login(client, world.outsider)
    assert "another email address" in client.get(f"/invitations/{token}").text
    response = client.submit("/", action=f"/invitations/{token}/accept")
    assert response.status_code == 403
    assert membership_of(db_session, world.outsider, world.group) is None
    assert invitation.status == InvitationStatus.PENDING


@pytest.mark.parametrize("token", ["garbage", "eyJhIjoxfQ.forged.sig"])
def test_tampered_invitation_links_are_not_found(client, token):
    response = client.get(f"/invitations/{token}")
    assert response.status_code == 404
    assert "not valid" in response.text


@pytest.mark.parametrize(
    "email, status, message",
    [
        ("not an email", 400, "Enter a valid email address."),
        ("", 400, "Enter an email address."),
    ],
)
def test_invite_refuses_bad_addresses(client, world, db_session, mail, email, status, message):
    login(client, world.admin)
    response = client.submit(f"/groups/{world.group.slug}/invitations", {"email": email})
    assert response.status_code == status
    assert message in response.text
    assert db_session.scalar(select(func.count(Invitation.id))) == 0
    assert mail == []


def test_inviting_a_member_is_refused(client, world, db_session, mail):
    login(client, world.admin)
    response = client.submit(
        f"/groups/{world.group.slug}/invitations", {"email": world.member.email}
    )
    assert response.status_code == 409
    assert "already a member" in response.text
    assert mail == []


def test_admin_revokes_an_invitation_members_cannot(make_client, world, make, db_session):
    invitation = make.invitation(world.group)
    url = f"/groups/{world.group.slug}/invitations/{invitation.id}/revoke"
    member = make_client()
    login(member, world.member)
    assert member.submit("/", action=url).status_code == 403
    assert invitation.status == InvitationStatus.PENDING
    admin = make_client()
    login(admin, world.admin)
    assert admin.confirm("/", action=url).status_code == 302
    assert invitation.status == InvitationStatus.REVOKED
    assert admin.submit("/", {"confirmed": "yes"}, action=url).status_code == 409


def test_audit_log_shows_admin_actions_in_words(client, world):
    login(client, world.admin)
    member_action(client, world, world.applicant, "approve")
    page = client.get(f"/groups/{world.group.slug}/audit").text
    assert "Ane approved Lucía as a member." in page


def test_the_home_shows_invitations_to_the_accounts_own_address_only(make_client, world, make):
    """An account's address was proven by its sign-up link, so its invitations show at home."""
    make.invitation(world.other_group, email=world.member.email)
    invited, other = make_client(), make_client()
    login(invited, world.member)
    login(other, world.outsider)
    page = invited.get("/").text
    assert "Bilbao Energy" in page
    assert "Join Food Circle?" in page and "/invitations/" in page
    assert "Food Circle" not in other.get("/").text


def test_a_group_named_like_a_page_still_has_its_own_address(client, auth):
    auth.login()
    data = {"name": "New", "description": "", "region": "", "membership_policy": "open"}
    response = client.submit("/groups/new", data)
    assert response.headers["Location"] == "/groups/new-2"
    assert "You are an admin of this group." in client.get("/groups/new-2").text


def test_group_list_query_count_does_not_grow_with_groups(client, make, count_queries):
    counts = []
    for size in (3, 30):
        for _ in range(size):
            make.member(make.group())
        with count_queries() as counter:
            assert client.get("/groups/").status_code == 200
        counts.append(counter["n"])
    assert counts[0] == counts[1]


def test_members_page_query_count_does_not_grow_with_members(client, world, make, count_queries):
    login(client, world.admin)
    counts = []
    for size in (3, 30):
        for _ in range(size):
            make.member(world.group)
            make.membership(world.group, status=MembershipStatus.PENDING)
        with count_queries() as counter:
            page = client.get(f"/groups/{world.group.slug}/members")
        assert page.status_code == 200
        counts.append(counter["n"])
    assert counts[0] == counts[1]


def test_dashboard_tells_admins_how_many_requests_wait(client, world, make):
    make.membership(world.group, status=MembershipStatus.PENDING)
    login(client, world.admin)
    page = client.get("/").text
    assert "2 requests to join" in page and f'id="requests-{world.group.slug}"' in page
    assert client.submit("/", action="/logout").status_code == 302
    login(client, world.member)
    page = client.get("/").text
    assert "2 requests to join" not in page and 'id="requests-' not in page


def test_the_last_admin_cannot_remove_themselves(client, world, db_session):
    login(client, world.admin)
    response = member_action(client, world, world.admin, "remove")
    assert response.status_code == 409
    assert "at least one admin" in response.text
    assert membership_of(db_session, world.admin, world.group).is_admin


def test_an_expired_invitation_says_so_and_cannot_be_accepted(client, world, make, db_session):
    invitation = make.invitation(
        world.group, email=world.outsider.email, expires_at=utcnow() - timedelta(minutes=1)
    )
    token = invitation_token(invitation, client.application.config["SECRET_KEY"])
    login(client, world.outsider)
    assert "has expired" in client.get(f"/invitations/{token}").text
    response = client.submit("/", action=f"/invitations/{token}/accept")
    assert response.status_code == 400
    assert "has expired" in response.text
    assert membership_of(db_session, world.outsider, world.group) is None


def test_search_terms_are_shown_back_escaped(client):
    response = client.get('/groups/?q="><script>alert(1)</script>')
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    assert "&#34;&gt;&lt;script&gt;" in response.text


def test_the_members_page_is_searchable_and_paged(client, world, make, app, monkeypatch):
    monkeypatch.setitem(app.config, "MEMBERS_PER_PAGE", 3)
    for name in ("Miren", "Mikel", "Koldo", "Nerea"):
        make.member(world.group, display_name=name)
    login(client, world.member)
    url = f"/groups/{world.group.slug}/members"
    first = client.get(url).text
    assert "6 members" in first and 'name="q"' in first
    assert "Page 1 of 2" in first and f"{url}?page=2" in first
    names = re.findall(r'<span class="name">([^<]+)</span>', first.split('id="members"')[1])
    assert names[0] == "Ane" and len(names) == 3  # admins first
    second = client.get(url, query_string={"page": 2}).text
    later = re.findall(r'<span class="name">([^<]+)</span>', second.split('id="members"')[1])
    assert len(later) == 3 and not set(names) & set(later)
    found = client.get(url, query_string={"q": "mi"}).text
    assert "2 members match “mi”." in found
    matched = re.findall(r'<span class="name">([^<]+)</span>', found.split('id="members"')[1])
    assert sorted(matched) == ["Mikel", "Miren"]
    assert "6 members" in found  # the group's size, whatever the search
    assert client.get(url, query_string={"q": "%"}).status_code == 200
    assert "0 members match" in client.get(url, query_string={"q": "%"}).text
