"""Members hear of their groups' votes: in the app, and by email when they asked for it."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tecopio.db import utcnow
from tecopio.governance import decisions
from tecopio.governance.models import ProposalComment, Vote
from tecopio.groups.models import MembershipStatus
from tecopio.groups.services import membership_of
from tecopio.notifications import services
from tecopio.notifications.models import Notification, NotificationKind
from tecopio.privacy.records import erase_account, export_data
from tests.factories import PASSWORD


@pytest.fixture
def assembly(make):
    """An admin and three members of a while, one of them asking for emails in Spanish."""
    admin = make.user()
    group = make.group(admin=admin, name="Bilbao Energía")
    members = [make.member(group) for _ in range(3)]
    members[0].email_notifications, members[0].locale = True, "es"
    for membership in group.memberships:
        membership.active_since = utcnow() - timedelta(days=30)
    make.session.commit()
    return group, admin, members


def open_motion(db_session, group, author, **kwargs):
    return decisions.open_proposal(
        db_session, author, group, kind="motion", title="Solar together", description="", **kwargs
    )


def kinds_for(db_session, user):
    return [
        (n.kind, n.proposal.title)
        for n in db_session.scalars(select(Notification).where(Notification.user_id == user.id))
    ]


@pytest.mark.usefixtures("app_ctx")
def test_a_new_proposal_is_told_to_everyone_who_may_vote_but_its_author(db_session, make, assembly):
    group, admin, members = assembly
    applicant = make.user()
    make.membership(group, applicant, status=MembershipStatus.PENDING)
    open_motion(db_session, group, admin)
    late = make.member(group)  # joined after it opened: has no say on it
    for member in members:
        assert kinds_for(db_session, member) == [
            (NotificationKind.PROPOSAL_OPENED, "Solar together")
        ]
    for person in (admin, applicant, late):
        assert kinds_for(db_session, person) == []


@pytest.mark.usefixtures("app_ctx")
def test_a_day_before_the_close_those_who_have_not_voted_are_reminded_once(db_session, assembly):
    group, admin, members = assembly
    soon = open_motion(db_session, group, admin, now=utcnow() - timedelta(days=6, hours=1))
    later = decisions.open_proposal(
        db_session, admin, group, kind="motion", title="Later", description=""
    )
    decisions.cast_vote(db_session, members[0], soon, "yes")
    assert services.remind_closing(db_session) == 3  # the admin and two members
    assert services.remind_closing(db_session) == 0  # once
    closing = select(func.count(Notification.id)).where(
        Notification.kind == NotificationKind.PROPOSAL_CLOSING
    )
    assert db_session.scalar(closing.where(Notification.user_id == members[0].id)) == 0
    assert db_session.scalar(closing.where(Notification.proposal_id == later.id)) == 0


@pytest.mark.usefixtures("app_ctx")
def test_emails_go_to_those_who_asked_in_their_language_once(db_session, mail, assembly):
    group, admin, members = assembly
    proposal = open_motion(db_session, group, admin)
    db_session.commit()
    assert services.send_pending_emails(db_session) == 1
    assert services.send_pending_emails(db_session) == 0
    (message,) = mail
    assert message["To"] == members[0].email
    assert message["Subject"] == "Se ha abierto una votación en Bilbao Energía"
    body = message.get_content()
    assert "Solar together" in body
    assert f"http://localhost/groups/{group.slug}/proposals/{proposal.number}" in body


@pytest.mark.usefixtures("app_ctx")
def test_a_failing_mail_server_leaves_the_email_for_the_next_run(
    app, db_session, mail, monkeypatch, assembly
):
    group, admin, members = assembly
    open_motion(db_session, group, admin)
    db_session.commit()
    working_port = app.config["MAIL_PORT"]
    monkeypatch.setitem(app.config, "MAIL_PORT", 9)  # nothing listens there
    assert services.send_pending_emails(db_session) == 0
    monkeypatch.setitem(app.config, "MAIL_PORT", working_port)
    assert services.send_pending_emails(db_session) == 1
    assert len(mail) == 1


@pytest.mark.usefixtures("app_ctx")
def test_erasure_takes_votes_comments_and_notifications_and_export_holds_them(db_session, assembly):
    group, admin, members = assembly
    proposal = open_motion(db_session, group, members[1])
    decisions.cast_vote(db_session, members[1], proposal, "yes")
    decisions.add_comment(db_session, members[1], proposal, "Count me in.")
    data = export_data(db_session, members[1])
    assert [p["title"] for p in data["proposals"]] == ["Solar together"]
    assert [(v["proposal"], v["choice"]) for v in data["votes"]] == [("Solar together", "yes")]
    assert [c["text"] for c in data["comments"]] == ["Count me in."]
    erase_account(db_session, members[0])
    erase_account(db_session, members[1])
    assert db_session.scalar(select(func.count(Vote.id))) == 0
    assert db_session.scalar(select(func.count(ProposalComment.id))) == 0
    assert (
        db_session.scalar(
            select(func.count(Notification.id)).where(Notification.user_id == members[0].id)
        )
        == 0
    )
    assert proposal.author_id is None and proposal.title == "Solar together"


def login(client, user):
    client.submit("/login", {"email": user.email, "password": PASSWORD})


def test_the_menu_counts_unread_notifications_until_they_are_read(
    client, make_client, db_session, assembly
):
    group, admin, members = assembly
    open_motion(db_session, group, admin)
    db_session.commit()
    login(client, members[1])
    home = client.get("/").text
    assert 'id="unread-count">1<' in home
    page = client.get("/notifications").text
    assert "Bilbao Energía: a vote has opened on “Solar together”." in page
    assert client.submit("/notifications/read", {}).status_code == 302
    assert 'id="unread-count"' not in client.get("/").text
    author = make_client()
    login(author, admin)
    assert "Solar together" not in author.get("/notifications").text  # only one's own


def test_members_opt_in_to_emails_on_their_profile(client, make, db_session):
    user = make.user(display_name="Iker")
    login(client, user)
    form = {"display_name": "Iker", "region": "", "locale": ""}
    client.submit("/account", {**form, "email_notifications": "y"})
    assert user.email_notifications is True
    client.submit("/account", form)
    assert user.email_notifications is False


@pytest.mark.usefixtures("app_ctx")
def test_no_email_about_what_is_no_longer_news(db_session, mail, make, assembly):
    group, admin, members = assembly
    withdrawn = open_motion(db_session, group, admin)
    decisions.withdraw(db_session, admin, withdrawn)
    closing = open_motion(db_session, group, admin, now=utcnow() - timedelta(days=6, hours=1))
    services.remind_closing(db_session)
    decisions.cast_vote(db_session, members[0], closing, "no")  # voted after the reminder
    waiting = decisions.open_proposal(
        db_session, admin, group, kind="motion", title="Still waiting", description=""
    )
    db_session.commit()
    # Neither notice of ``closing`` (the person voted), nor the withdrawn one: ``waiting`` only.
    assert services.send_pending_emails(db_session) == 1
    assert waiting.title in mail[0].get_content()
    assert services.send_pending_emails(db_session) == 0


@pytest.mark.usefixtures("app_ctx")
def test_a_one_day_vote_gets_no_reminder_on_top_of_its_opening_notice(db_session, make):
    admin = make.user()
    group = make.group(admin=admin, decisions__voting_days=1)
    make.member(group)
    decisions.open_proposal(db_session, admin, group, kind="motion", title="Quick", description="")
    assert services.remind_closing(db_session) == 0


# --- beyond votes: requests to join, answers, removals, invitations ------------------


@pytest.fixture
def approval_group(make):
    """A group where two admins decide requests to join, one asking for emails in Basque."""
    first, second = make.user(display_name="Ane"), make.user(display_name="Jon")
    group = make.group(admin=first, name="Getxo Kontsumoa", membership_policy="approval")
    make.membership(group, second, role="admin")
    second.email_notifications, second.locale = True, "eu"
    make.session.commit()
    return group, first, second


def unread(db_session, user) -> list[NotificationKind]:
    return list(
        db_session.scalars(
            select(Notification.kind)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .order_by(Notification.id)
        )
    )


def test_admins_hear_of_a_request_until_one_of_them_answers_it(
    make_client, make, db_session, approval_group
):
    group, first, second = approval_group
    member = make.member(group)
    applicant = make.user(display_name="Lucía")
    asking = make_client()
    login(asking, applicant)
    assert asking.submit(f"/groups/{group.slug}/join").status_code == 302

    assert unread(db_session, first) == unread(db_session, second) == ["join_requested"]
    assert unread(db_session, member) == []
    admin = make_client()
    login(admin, first)
    page = admin.get("/notifications").text
    assert "Getxo Kontsumoa: Lucía asks to join." in page
    assert f'href="/groups/{group.slug}/members"' in page
    assert 'id="unread-count">1<' in page

    membership = membership_of(db_session, applicant, group)
    answered = admin.submit(
        f"/groups/{group.slug}/members/{membership.id}/approve", {"confirmed": "yes"}
    )
    assert answered.status_code == 302
    # Answered by one admin: it waits on neither any more.
    assert unread(db_session, first) == unread(db_session, second) == []
    assert 'id="unread-count"' not in admin.get("/").text
    assert unread(db_session, applicant) == ["join_approved"]
    welcome = asking.get("/notifications").text
    assert "Getxo Kontsumoa: your request to join was approved. Welcome!" in welcome
    assert f'href="/groups/{group.slug}"' in welcome


def test_a_declined_applicant_is_told_and_a_withdrawn_request_stops_asking(
    make_client, make, db_session, approval_group
):
    group, first, second = approval_group
    declined, changed_mind = make.user(), make.user()
    for person in (declined, changed_mind):
        client = make_client()
        login(client, person)
        client.submit(f"/groups/{group.slug}/join")
    admin = make_client()
    login(admin, first)
    membership = membership_of(db_session, declined, group)
    admin.submit(f"/groups/{group.slug}/members/{membership.id}/reject", {"confirmed": "yes"})
    assert unread(db_session, declined) == ["join_declined"]
    withdrawing = make_client()
    login(withdrawing, changed_mind)
    withdrawing.submit(f"/groups/{group.slug}/leave")
    assert unread(db_session, changed_mind) == []  # no answer to hear: they withdrew
    assert unread(db_session, first) == unread(db_session, second) == []


@pytest.mark.usefixtures("app_ctx")
def test_a_request_decided_by_the_members_vote_is_answered_too(db_session, make):
    admin = make.user()
    group = make.group(admin=admin, membership_policy="approval", membership__admission="vote")
    voters = [make.member(group) for _ in range(3)]
    for membership in group.memberships:
        membership.active_since = utcnow() - timedelta(days=30)
    applicant = make.user()
    request = make.membership(group, applicant, status=MembershipStatus.PENDING)
    proposal = decisions.open_proposal(
        db_session,
        voters[0],
        group,
        kind="admission",
        title="Admit",
        description="",
        payload={"membership_id": request.id},
    )
    for voter in [admin, *voters]:
        decisions.cast_vote(db_session, voter, proposal, "yes")
    decisions.close_if_due(db_session, proposal, now=proposal.closes_at + timedelta(seconds=1))
    assert request.status == MembershipStatus.ACTIVE
    assert unread(db_session, applicant) == ["join_approved"]


def test_a_removed_member_is_told(make_client, make, db_session):
    admin = make.user()
    group = make.group(admin=admin, name="Bilbao Energy")
    member = make.member(group)
    client = make_client()
    login(client, admin)
    membership = membership_of(db_session, member, group)
    client.submit(f"/groups/{group.slug}/members/{membership.id}/remove", {"confirmed": "yes"})
    assert unread(db_session, member) == ["member_removed"]
    removed = make_client()
    login(removed, member)
    assert (
        "Bilbao Energy: an admin removed you from the group." in removed.get("/notifications").text
    )


def test_an_invitation_shows_in_the_app_of_a_person_with_an_account(
    make_client, make, db_session, mail
):
    admin = make.user()
    group = make.group(admin=admin, name="Donostia Repair")
    invitee = make.user(email_notifications=True)
    client = make_client()
    login(client, admin)
    for _ in range(2):  # invited twice (a renewal): one notice
        client.submit(f"/groups/{group.slug}/invitations", {"email": invitee.email.upper()})
    client.submit(f"/groups/{group.slug}/invitations", {"email": "nobody@example.com"})
    assert unread(db_session, invitee) == ["invited"]
    assert db_session.scalar(select(func.count(Notification.id))) == 1  # not for an address
    invitation_mails = len(mail)

    invited = make_client()
    login(invited, invitee)
    page = invited.get("/notifications").text
    assert "Donostia Repair: you are invited to join." in page
    link = re.search(r'href="(/invitations/[^"]+)"', page).group(1)
    assert "Accept" in invited.get(link).text
    # The invitation email went already: the notice is never emailed on top.
    with client.application.app_context():
        assert services.send_pending_emails(db_session) == 0
    assert len(mail) == invitation_mails
    assert invited.submit(f"{link}/accept").status_code == 302
    assert unread(db_session, invitee) == []


def test_voting_clears_the_voters_notice(client, db_session, assembly):
    group, admin, members = assembly
    proposal = open_motion(db_session, group, admin)
    db_session.commit()
    login(client, members[1])
    assert 'id="unread-count">1<' in client.get("/").text
    path = f"/groups/{group.slug}/proposals/{proposal.number}/vote"
    assert client.submit(path, {"choice": "yes"}).status_code == 302
    assert 'id="unread-count"' not in client.get("/").text
    assert unread(db_session, members[2]) == ["proposal_opened"]  # others' stay


@pytest.mark.usefixtures("app_ctx")
def test_an_admin_who_asked_gets_the_request_by_email_in_their_language(
    db_session, mail, make, approval_group
):
    group, first, second = approval_group
    from tecopio.groups.services import join_group

    join_group(db_session, make.user(display_name="Lucía"), group)
    db_session.commit()
    assert services.send_pending_emails(db_session) == 1
    (message,) = mail
    assert message["To"] == second.email
    assert "Getxo Kontsumoa" in message["Subject"]
    body = message.get_content()
    assert "Lucía" in body and f"http://localhost/groups/{group.slug}/members" in body
    assert "Kaixo" in body  # Basque


@pytest.mark.usefixtures("app_ctx")
def test_no_email_about_a_request_answered_before_the_mail_went(
    db_session, mail, make, approval_group
):
    group, first, second = approval_group
    from tecopio.governance.decisions import admission_by_admin
    from tecopio.groups.services import join_group

    membership = join_group(db_session, make.user(), group)
    admission_by_admin(db_session, first, membership, admitted=True)
    db_session.commit()
    assert services.send_pending_emails(db_session) == 0
    assert mail == []


def test_a_former_admin_no_longer_sees_requests_to_join(make_client, make, db_session):
    """A request names the applicant, which members who are not admins never see."""
    from tecopio.groups.services import demote_member, join_group

    first, second = make.user(), make.user()
    group = make.group(admin=first, membership_policy="approval")
    make.membership(group, second, role="admin")
    join_group(db_session, make.user(display_name="Secret Applicant"), group)
    db_session.commit()
    demote_member(db_session, first, membership_of(db_session, second, group))
    db_session.commit()
    former = make_client()
    login(former, second)
    assert "Secret Applicant" not in former.get("/notifications").text
    assert 'id="unread-count"' not in former.get("/").text
    still = make_client()
    login(still, first)
    assert "Secret Applicant asks to join" in still.get("/notifications").text


def test_the_badge_counts_only_what_still_waits(client, make, db_session, assembly):
    group, admin, members = assembly
    proposal = open_motion(db_session, group, admin)
    invitation = make.invitation(make.group(name="Elsewhere"), email=members[1].email)
    services.invitation_sent(invitation, session=db_session)
    db_session.commit()
    login(client, members[1])
    assert 'id="unread-count">2<' in client.get("/").text
    decisions.withdraw(db_session, admin, proposal)  # the vote no longer asks anything
    invitation.expires_at = utcnow() - timedelta(seconds=1)  # nor the invitation
    db_session.commit()
    assert 'id="unread-count"' not in client.get("/").text
    page = client.get("/notifications").text
    assert "Solar together" in page and "Elsewhere" in page  # still listed, as history


def test_accepting_an_invitation_answers_ones_own_request_for_the_admins(
    make_client, make, db_session
):
    from tecopio.groups.services import accept_invitation, join_group

    admin = make.user()
    group = make.group(admin=admin, membership_policy="approval")
    applicant = make.user()
    join_group(db_session, applicant, group)
    invitation = make.invitation(group, email=applicant.email)
    db_session.commit()
    assert unread(db_session, admin) == ["join_requested"]
    accept_invitation(db_session, applicant, invitation)
    db_session.commit()
    assert unread(db_session, admin) == []
    assert unread(db_session, applicant) == []  # joined by their own answer: nothing to tell
