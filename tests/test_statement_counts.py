"""Pages whose lists grow run as many SQL statements for ten times as many rows (no N+1)."""

import pytest

from tecopio.audit.services import record
from tecopio.governance import decisions

SIZES = (3, 30)


def counts_for(client, count_queries, url, grow) -> list[int]:
    counts = []
    for size in SIZES:
        grow(size)
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        counts.append(counter["n"])
    return counts


@pytest.fixture
def admin_and_group(client, auth, make):
    admin = auth.login()
    group = make.group(admin=admin)
    return admin, group


def test_the_notifications_page(client, db_session, make, count_queries, admin_and_group):
    admin, _group = admin_and_group

    def grow(size):
        for _ in range(size):
            other = make.group()
            make.membership(other, admin)
            decisions.open_proposal(
                db_session, make.admin_of(other), other, kind="motion", title="T", description=""
            )
        db_session.commit()

    counts = counts_for(client, count_queries, "/notifications", grow)
    assert counts[0] == counts[1]


def test_the_dashboard(client, make, count_queries, admin_and_group):
    admin, _group = admin_and_group

    def grow(size):
        for _ in range(size):
            make.membership(make.group(), admin)
            make.membership(make.group(admin=admin), make.user(), status="pending")

    counts = counts_for(client, count_queries, "/", grow)
    assert counts[0] == counts[1]


def test_the_audit_log(client, db_session, make, count_queries, admin_and_group):
    admin, group = admin_and_group

    def grow(size):
        for _ in range(size):
            record(db_session, "member.left", actor=make.user(), group=group, target_user=admin)
        db_session.commit()

    counts = counts_for(client, count_queries, f"/groups/{group.slug}/audit", grow)
    assert counts[0] == counts[1]


@pytest.mark.parametrize("kind", ["preferences", "intents", "feedback"])
def test_the_data_lists(client, make, count_queries, admin_and_group, kind):
    admin, _group = admin_and_group
    factory = {"preferences": make.preference, "intents": make.intent, "feedback": make.feedback}

    def grow(size):
        for _ in range(size):
            factory[kind](admin)

    counts = counts_for(client, count_queries, f"/my/{kind}", grow)
    assert counts[0] == counts[1]


def test_the_home_page(client, db_session, make, count_queries, admin_and_group):
    """A member of many groups, with votes, requests, invitations and decisions in each."""
    admin, _group = admin_and_group

    def grow(size):
        for _ in range(size):
            other = make.group(membership_policy="approval")
            make.membership(other, admin, role="admin")
            make.membership(other, make.user(), status="pending")
            make.invitation(make.group(), email=admin.email)
            decisions.open_proposal(
                db_session, make.admin_of(other), other, kind="motion", title="T", description=""
            )
        db_session.commit()

    counts = counts_for(client, count_queries, "/", grow)
    assert counts[0] == counts[1]
