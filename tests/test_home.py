"""A member's home: what waits on them, their first steps, and their groups' recent decisions."""

from datetime import timedelta

import pytest

from tecopio.db import utcnow
from tecopio.governance import decisions
from tecopio.groups.models import MembershipStatus
from tests.factories import PASSWORD


def login(client, user):
    assert client.submit("/login", {"email": user.email, "password": PASSWORD}).status_code == 302


@pytest.fixture
def group_with_vote(make, db_session):
    admin = make.user()
    group = make.group(admin=admin, name="Bilbao Energy")
    member = make.member(group)
    for membership in group.memberships:
        membership.active_since = utcnow() - timedelta(days=30)
    proposal = decisions.open_proposal(
        db_session, admin, group, kind="motion", title="Ask three installers", description=""
    )
    db_session.commit()
    return group, admin, member, proposal


def test_a_vote_waits_on_a_member_until_they_vote(client, db_session, group_with_vote):
    group, _admin, member, proposal = group_with_vote
    login(client, member)
    task = f'id="vote-{group.slug}-{proposal.number}"'
    home = client.get("/").text
    assert task in home and "Ask three installers" in home and "closes" in home
    client.submit(f"/groups/{group.slug}/proposals/{proposal.number}/vote", {"choice": "no"})
    home = client.get("/").text
    assert task not in home
    assert "Nothing waits on you now." in home
    # Still among the group's recent decisions.
    assert "Ask three installers" in home


def test_a_vote_waits_only_on_those_who_may_cast_it(make_client, make, db_session, group_with_vote):
    group, _admin, _member, proposal = group_with_vote
    newcomer = make.member(group)  # joined after it opened: not in its electorate
    applicant = make.user()
    make.membership(group, applicant, status=MembershipStatus.PENDING)
    task = f'id="vote-{group.slug}-{proposal.number}"'
    for person in (newcomer, applicant, make.user()):
        client = make_client()
        login(client, person)
        assert task not in client.get("/").text


def test_first_steps_follow_what_the_member_did(client, make, db_session):
    user = make.user()
    login(client, user)
    home = client.get("/").text
    assert 'id="first-steps"' in home and "0 of 3 done" in home
    group = make.group(name="Getxo Kontsumoa")
    make.membership(group, user)
    assert "1 of 3 done" in client.get("/").text
    make.preference(user)
    home = client.get("/").text
    assert "2 of 3 done" in home
    assert 'href="/my/consent"' in home
    assert f'href="/groups/{group.slug}/analytics"' in home
    make.consent(user, group, "energy")
    assert 'id="first-steps"' not in client.get("/").text


def test_each_group_card_has_counts_and_recent_decisions(client, make, db_session):
    admin = make.user()
    group = make.group(admin=admin, name="Bilbao Energy")
    for _ in range(2):
        make.member(group)
    for title in ("First", "Second", "Third", "Fourth"):
        decisions.open_proposal(
            db_session, admin, group, kind="motion", title=title, description=""
        )
    db_session.commit()
    login(client, admin)
    card = (
        client.get("/").text.split(f'id="group-{group.slug}"', 1)[1].split('class="actions"', 1)[0]
    )
    assert "3 members" in card
    assert ">BE<" in card  # its initials as its image
    # The three latest, newest first.
    assert card.index("Fourth") < card.index("Third") < card.index("Second")
    assert "First" not in card
    assert "No figures yet" in card
