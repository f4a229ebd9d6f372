"""Members hear of their groups' votes: in the app, and by email when they asked for it."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tecopio.db import utcnow
from tecopio.governance import decisions
from tecopio.governance.models import ProposalComment, Vote
from tecopio.groups.models import MembershipStatus
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
    db_session.commit()
    assert services.send_pending_emails(db_session) == 1  # only the opening of ``closing``
    assert "Solar together" in mail[0].get_content()
    assert services.send_pending_emails(db_session) == 0


@pytest.mark.usefixtures("app_ctx")
def test_a_one_day_vote_gets_no_reminder_on_top_of_its_opening_notice(db_session, make):
    admin = make.user()
    group = make.group(admin=admin, decisions__voting_days=1)
    make.member(group)
    decisions.open_proposal(db_session, admin, group, kind="motion", title="Quick", description="")
    assert services.remind_closing(db_session) == 0
