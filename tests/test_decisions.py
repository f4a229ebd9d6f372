"""Proposals and votes: the tally, the close, and every refusal."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tecopio import jobs
from tecopio.analytics.queries import Filters, group_figures
from tecopio.categories.services import load_tree
from tecopio.db import utcnow
from tecopio.governance import charters as services
from tecopio.governance import decisions, kinds
from tecopio.governance.models import Adoption, ProposalComment, ProposalStatus, Vote
from tecopio.governance.tally import Tally
from tecopio.groups.models import MembershipStatus
from tests.factories import PASSWORD
from tests.test_governance import charter_form_data


@pytest.mark.parametrize(
    "yes, no, abstain, electorate, quorum, threshold, abstentions, reached, passed",
    [
        # quorum 20 % of 10 members = 2 votes
        (1, 0, 0, 10, 20, 50, False, False, False),  # quorum not reached
        (2, 0, 0, 10, 20, 50, False, True, True),  # reached exactly
        (1, 1, 0, 10, 20, 50, False, True, False),  # a tie is not more than half
        (3, 2, 0, 10, 20, 50, False, True, True),
        (1, 0, 1, 10, 20, 50, False, True, True),  # abstentions count for the quorum only
        (1, 0, 1, 10, 20, 50, True, True, False),  # ... or also in the threshold: 1 of 2
        (2, 0, 1, 10, 20, 50, True, True, True),
        (0, 0, 2, 10, 20, 50, False, True, False),  # only abstentions: nothing to count
        (2, 1, 0, 3, 100, 66, False, True, True),  # 66.7 % > 66 %
        (2, 1, 0, 3, 100, 67, False, True, False),  # 66.7 % is not more than 67 %
        (7, 3, 0, 21, 50, 50, False, False, False),  # 10 of 21 < ceil(10.5) = 11
        (8, 3, 0, 21, 50, 50, False, True, True),
        (0, 0, 0, 0, 0, 50, False, True, False),  # no electorate
    ],
)
def test_tally(yes, no, abstain, electorate, quorum, threshold, abstentions, reached, passed):
    tally = Tally(yes, no, abstain, electorate, quorum, threshold, abstentions)
    assert (tally.quorum_reached, tally.passed) == (reached, passed)
    assert tally.still_needed == max(0, tally.quorum_votes - tally.votes)


def test_the_quorum_needs_whole_votes():
    assert Tally(0, 0, 0, 21, 50, 50, False).quorum_votes == 11
    assert Tally(3, 0, 0, 21, 50, 50, False).still_needed == 8


@pytest.fixture
def assembly(make):
    """A group of an admin and four members, active since before any proposal."""
    admin = make.user()
    group = make.group(admin=admin, decisions__quorum_percent=50)
    members = [make.member(group) for _ in range(4)]
    for membership in group.memberships:
        membership.active_since = utcnow() - timedelta(days=30)
    make.session.commit()
    return group, admin, members


def open_k_change(db_session, group, author, k=7, **kwargs):
    return decisions.open_proposal(
        db_session,
        author,
        group,
        kind="charter",
        title=f"Raise k to {k}",
        description="More caution.",
        payload={"changes": {"privacy.k_anonymity": k}},
        **kwargs,
    )


@pytest.mark.usefixtures("app_ctx")
def test_a_passing_charter_change_becomes_the_next_version_at_the_close(db_session, assembly):
    group, admin, members = assembly
    proposal = open_k_change(db_session, group, admin)
    assert proposal.payload == {"changes": {"privacy.k_anonymity": 7}}
    for member, choice in zip(members, ["yes", "yes", "no", "abstain"], strict=True):
        decisions.cast_vote(db_session, member, proposal, choice)
    decisions.cast_vote(db_session, members[2], proposal, "yes")  # changed their mind
    assert services.current_charter(db_session, group).k_anonymity == 5  # not before the close
    decisions.close_proposal(db_session, proposal, proposal.closes_at)
    assert proposal.status == ProposalStatus.PASSED
    assert (proposal.yes, proposal.no, proposal.abstain, proposal.electorate) == (3, 0, 1, 5)
    assert proposal.result_version.number == 2
    assert proposal.result_version.adoption == Adoption.VOTE
    assert services.current_charter(db_session, group).k_anonymity == 7


@pytest.mark.usefixtures("app_ctx")
def test_the_outcome_follows_the_charter_in_force_when_the_proposal_opened(
    db_session, make, assembly
):
    group, admin, members = assembly
    proposal = open_k_change(db_session, group, admin)
    make.charter(group, decisions__quorum_percent=100)  # later, the group asks for everyone
    decisions.cast_vote(db_session, members[0], proposal, "yes")
    decisions.cast_vote(db_session, members[1], proposal, "yes")
    decisions.cast_vote(db_session, members[2], proposal, "yes")
    decisions.close_proposal(db_session, proposal, proposal.closes_at)
    assert proposal.status == ProposalStatus.PASSED  # 3 of 5 reach the 50 % it opened with


@pytest.mark.usefixtures("app_ctx")
def test_too_few_votes_reject_and_change_nothing(db_session, assembly):
    group, admin, members = assembly
    proposal = open_k_change(db_session, group, admin)
    decisions.cast_vote(db_session, members[0], proposal, "yes")
    decisions.close_proposal(db_session, proposal, proposal.closes_at)
    assert (proposal.status, proposal.quorum_reached) == (ProposalStatus.REJECTED, False)
    assert services.version_count(db_session, group) == 1


@pytest.mark.usefixtures("app_ctx")
def test_who_may_vote(db_session, make, assembly):
    group, admin, members = assembly
    proposal = open_k_change(db_session, group, admin, now=utcnow() - timedelta(hours=1))
    late = make.member(group)  # joined after the proposal opened
    applicant = make.user()
    make.membership(group, applicant, status=MembershipStatus.PENDING)
    outsider = make.user()
    for person in (late, applicant, outsider):
        with pytest.raises(decisions.NotEligible):
            decisions.cast_vote(db_session, person, proposal, "yes")
    assert db_session.scalar(select(func.count(Vote.id))) == 0
    decisions.cast_vote(db_session, members[0], proposal, "yes")
    assert decisions.current_tally(db_session, proposal).electorate == 5  # not the late one


@pytest.mark.usefixtures("app_ctx")
def test_a_member_who_leaves_no_longer_counts(db_session, assembly):
    group, admin, members = assembly
    proposal = open_k_change(db_session, group, admin)
    decisions.cast_vote(db_session, members[0], proposal, "no")
    membership = next(m for m in group.memberships if m.user_id == members[0].id)
    membership.status = MembershipStatus.LEFT
    tally = decisions.current_tally(db_session, proposal)
    assert (tally.votes, tally.electorate) == (0, 4)


@pytest.mark.usefixtures("app_ctx")
def test_no_votes_after_the_close_and_no_second_close(db_session, assembly):
    group, admin, members = assembly
    proposal = open_k_change(db_session, group, admin)
    late = proposal.closes_at + timedelta(seconds=1)
    with pytest.raises(decisions.VotingClosed):
        decisions.cast_vote(db_session, members[0], proposal, "yes", now=late)
    assert proposal.status == ProposalStatus.REJECTED  # closed when the late vote came
    with pytest.raises(decisions.AlreadyClosed):
        decisions.close_proposal(db_session, proposal)


@pytest.mark.usefixtures("app_ctx")
def test_withdrawal_only_by_the_author_before_any_vote(db_session, assembly):
    group, admin, members = assembly
    proposal = open_k_change(db_session, group, members[0])
    with pytest.raises(decisions.CannotWithdraw):
        decisions.withdraw(db_session, admin, proposal)
    decisions.cast_vote(db_session, members[1], proposal, "abstain")
    with pytest.raises(decisions.CannotWithdraw):
        decisions.withdraw(db_session, members[0], proposal)
    other = open_k_change(db_session, group, members[0], k=8)
    decisions.withdraw(db_session, members[0], other)
    assert other.status == ProposalStatus.WITHDRAWN
    with pytest.raises(decisions.VotingClosed):
        decisions.cast_vote(db_session, members[1], other, "yes")


@pytest.mark.usefixtures("app_ctx")
@pytest.mark.parametrize(
    "payload, error",
    [
        ({"changes": {"privacy.k_anonymity": 2}}, services.InvalidCharter),
        ({"changes": {"revenue.reserve_percent": 101}}, services.InvalidCharter),
        ({"changes": {"privacy.categories": ["weapons"]}}, services.InvalidCharter),
        ({"changes": {"privacy.k_anonymity": 5}}, services.NothingChanged),
        ({}, services.NothingChanged),
    ],
)
def test_a_charter_proposal_must_carry_a_valid_change(db_session, assembly, payload, error):
    group, admin, _members = assembly
    with pytest.raises(error):
        decisions.open_proposal(
            db_session, admin, group, kind="charter", title="T", description="", payload=payload
        )


@pytest.mark.usefixtures("app_ctx")
def test_unknown_kinds_are_refused(db_session, assembly):
    group, admin, _members = assembly
    with pytest.raises(decisions.UnknownKind):
        decisions.open_proposal(db_session, admin, group, kind="coup", title="T", description="")


@pytest.mark.usefixtures("app_ctx")
def test_the_scheduler_command_closes_what_is_due(app, db_session, assembly):
    group, admin, members = assembly
    due = open_k_change(db_session, group, admin, now=utcnow() - timedelta(days=8))
    running = open_k_change(db_session, group, admin, k=9)
    db_session.commit()
    result = app.test_cli_runner().invoke(args=["proposals", "close-due"])
    assert "1 proposal(s) closed." in result.output
    assert (due.status, running.status) == (ProposalStatus.REJECTED, ProposalStatus.OPEN)


# --- pages --------------------------------------------------------------------------


def login(client, user):
    client.submit("/login", {"email": user.email, "password": PASSWORD})


def test_members_propose_vote_and_comment_through_the_pages(client, db_session, assembly):
    group, admin, members = assembly
    login(client, members[0])
    response = client.submit(
        f"/groups/{group.slug}/proposals/new?kind=motion",
        {"title": "Buy solar together", "description": "Let us ask <b>three</b> installers."},
    )
    assert response.status_code == 302
    url = response.headers["Location"]
    page = client.get(url).text
    assert "Buy solar together" in page and "&lt;b&gt;three&lt;/b&gt;" in page
    assert "The quorum needs 3 more votes." in page
    assert client.submit(f"{url}/vote", {"choice": "yes"}).status_code == 302
    assert client.submit(f"{url}/vote", {"choice": "maybe"}).status_code == 400
    assert client.submit(f"{url}/comments", {"body": "<script>x</script>"}).status_code == 302
    assert client.submit(f"{url}/comments", {"body": "   "}).status_code == 400
    page = client.get(url).text
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page
    assert "The quorum needs 2 more votes." in page
    assert "Buy solar together" in client.get(f"/groups/{group.slug}/proposals").text


def test_a_charter_proposal_through_the_pages_passes_at_the_close(
    client, make_client, db_session, assembly
):
    group, admin, members = assembly
    login(client, admin)
    data = charter_form_data(
        services.current_charter(db_session, group),
        privacy__k_anonymity="8",
        title="Raise k to 8",
        description="",
    )
    response = client.submit(f"/groups/{group.slug}/proposals/new?kind=charter", data)
    assert response.status_code == 302
    url = response.headers["Location"]
    for member in members[:3]:
        browser = make_client()
        login(browser, member)
        assert browser.submit(f"{url}/vote", {"choice": "yes"}).status_code == 302
    proposal = decisions.proposals_of(db_session, group)[0]
    proposal.closes_at = utcnow() - timedelta(seconds=1)
    db_session.commit()
    page = client.get(url).text  # past its time, before the job closed it: nothing written
    assert 'id="counting-notice"' in page and "voting has ended, counting" in page
    assert proposal.status == ProposalStatus.OPEN and 'id="vote-form"' not in page
    with client.application.app_context():
        jobs.run_pending(periodic=True)  # the worker's minute comes round
    page = client.get(url).text
    assert "Adopted as version 2 of the charter." in page
    assert "3 of 5 members" in page
    charter_page = client.get(f"/groups/{group.slug}/charter").text
    assert "version 2" in charter_page
    assert f'href="{url}"' in charter_page  # the history links to the decision
    assert browser.submit(f"{url}/vote", {"choice": "no"}).status_code == 409


@pytest.mark.parametrize("role, status", [("outsider", 403), ("applicant", 403)])
def test_only_members_reach_the_decisions(client, make, db_session, assembly, role, status):
    group, admin, _members = assembly
    proposal = decisions.open_proposal(
        db_session, admin, group, kind="motion", title="T", description=""
    )
    db_session.commit()
    user = make.user()
    if role == "applicant":
        make.membership(group, user, status=MembershipStatus.PENDING)
    login(client, user)
    base = f"/groups/{group.slug}/proposals"
    assert client.get(base).status_code == status
    assert client.get(f"{base}/{proposal.number}").status_code == status
    assert client.submit(f"{base}/{proposal.number}/vote", {"choice": "yes"}).status_code == status
    assert client.submit(f"{base}/new?kind=motion", {"title": "x"}).status_code == status
    assert client.submit(f"{base}/{proposal.number}/comments", {"body": "x"}).status_code == status
    assert client.submit(f"{base}/{proposal.number}/withdraw", {}).status_code == status
    request = make.membership(group, make.user(), status=MembershipStatus.PENDING)
    vote_on = f"/groups/{group.slug}/members/{request.id}/admission-vote"
    assert client.submit(vote_on, {}).status_code == status
    assert db_session.scalar(select(func.count(Vote.id))) == 0
    assert db_session.scalar(select(func.count(ProposalComment.id))) == 0
    assert proposal.status == ProposalStatus.OPEN
    assert len(decisions.proposals_of(db_session, group)) == 1


def test_where_admins_admit_a_request_is_not_put_to_a_vote(client, make, db_session, assembly):
    group, admin, members = assembly  # the charter says admins admit
    request = make.membership(group, make.user(), status=MembershipStatus.PENDING)
    login(client, members[0])
    response = client.submit(f"/groups/{group.slug}/members/{request.id}/admission-vote", {})
    assert response.status_code == 403
    assert decisions.proposals_of(db_session, group) == []
    assert request.status == MembershipStatus.PENDING


def test_bad_proposals_get_a_message_and_write_nothing(client, db_session, assembly):
    group, admin, _members = assembly
    login(client, admin)
    base = f"/groups/{group.slug}/proposals/new"
    assert client.get(f"{base}?kind=coup").status_code == 404
    assert client.get(f"{base}?kind=admission").status_code == 404  # from the members page
    huge = f"/groups/{group.slug}/proposals/99999999999999999999999"
    assert client.get(huge).status_code == 404
    response = client.submit(f"{base}?kind=motion", {"title": "", "description": ""})
    assert response.status_code == 400 and "This field is required." in response.text
    response = client.submit(f"{base}?kind=motion", {"title": "Vote \u202eyes", "description": ""})
    assert response.status_code == 400 and "invisible formatting characters" in response.text
    assert decisions.proposals_of(db_session, group) == []


# --- admissions and admins' decisions -------------------------------------------------


@pytest.mark.usefixtures("app_ctx")
def test_admins_decisions_are_in_the_history_of_decisions(db_session, make, assembly):
    group, admin, _members = assembly
    version = decisions.change_charter_by_admin(
        db_session, admin, group, {"revenue.reserve_percent": 20}, "A bigger reserve."
    )
    applicant = make.user(display_name="Lucía")
    request = make.membership(group, applicant, status=MembershipStatus.PENDING)
    decisions.admission_by_admin(db_session, admin, request, admitted=True)
    recorded = decisions.proposals_of(db_session, group)
    assert [(p.kind, p.status) for p in recorded] == [
        ("admission", ProposalStatus.DECIDED),
        ("charter", ProposalStatus.DECIDED),
    ]
    assert recorded[0].payload == {"membership_id": request.id, "name": "Lucía", "admitted": True}
    assert recorded[1].payload == {"changes": {"revenue.reserve_percent": 20}}
    assert recorded[1].result_version_id == version.id
    assert request.status == MembershipStatus.ACTIVE


@pytest.mark.usefixtures("app_ctx")
def test_where_members_admit_an_admin_cannot_and_the_vote_decides(db_session, make):
    admin = make.user()
    group = make.group(admin=admin, membership_policy="approval", membership__admission="vote")
    members = [make.member(group) for _ in range(2)]
    for membership in group.memberships:
        membership.active_since = utcnow() - timedelta(days=1)
    first, second = (
        make.membership(group, make.user(), status=MembershipStatus.PENDING) for _ in range(2)
    )
    with pytest.raises(decisions.AdmissionByVote):
        decisions.admission_by_admin(db_session, admin, first, admitted=True)
    admit = decisions.open_proposal(
        db_session,
        members[0],
        group,
        kind="admission",
        title="Admit",
        description="",
        payload={"membership_id": first.id},
    )
    with pytest.raises(kinds.AlreadyProposed):
        decisions.open_proposal(
            db_session,
            members[1],
            group,
            kind="admission",
            title="Again",
            description="",
            payload={"membership_id": first.id},
        )
    refuse = decisions.open_proposal(
        db_session,
        members[0],
        group,
        kind="admission",
        title="Admit too",
        description="",
        payload={"membership_id": second.id},
    )
    for member in members:
        decisions.cast_vote(db_session, member, admit, "yes")
        decisions.cast_vote(db_session, member, refuse, "no")
    decisions.close_proposal(db_session, admit, admit.closes_at)
    decisions.close_proposal(db_session, refuse, refuse.closes_at)
    assert (first.status, second.status) == (MembershipStatus.ACTIVE, MembershipStatus.REJECTED)


@pytest.mark.usefixtures("app_ctx")
@pytest.mark.parametrize("state", ["active", "other group", "missing"])
def test_only_a_waiting_request_is_put_to_a_vote(db_session, make, assembly, state):
    group, admin, members = assembly
    make.charter(group, membership__admission="vote")
    if state == "active":
        membership_id = next(m.id for m in group.memberships if m.user_id == members[0].id)
    elif state == "other group":
        other = make.group()
        membership_id = make.membership(other, make.user(), status=MembershipStatus.PENDING).id
    else:
        membership_id = 10_000
    with pytest.raises(kinds.NoSuchRequest):
        open_admission(db_session, admin, group, membership_id)


def open_admission(db_session, author, group, membership_id):
    return decisions.open_proposal(
        db_session,
        author,
        group,
        kind="admission",
        title="Admit",
        description="",
        payload={"membership_id": membership_id},
    )


@pytest.mark.usefixtures("app_ctx")
def test_the_service_refuses_an_admission_vote_where_admins_admit(db_session, make):
    """Whoever calls it (the page offers no such button there: the route refuses with 403)."""
    admin = make.user()
    group = make.group(admin=admin, membership_policy="approval")
    request = make.membership(group, make.user(), status=MembershipStatus.PENDING)
    with pytest.raises(decisions.AdmissionByAdmins):
        open_admission(db_session, admin, group, request.id)


def test_members_put_a_request_to_a_vote_from_the_members_page(client, make, db_session):
    admin = make.user()
    group = make.group(admin=admin, membership_policy="approval", membership__admission="vote")
    member = make.member(group)
    request = make.membership(
        group, make.user(display_name="Lucía"), status=MembershipStatus.PENDING
    )
    login(client, admin)
    page = client.get(f"/groups/{group.slug}/members").text
    assert "Lucía" in page and "Put to a vote" in page and ">Approve<" not in page
    refused = client.submit(f"/groups/{group.slug}/members/{request.id}/approve", {})
    assert refused.status_code == 409 and request.status == MembershipStatus.PENDING
    login(client, member)
    response = client.submit(f"/groups/{group.slug}/members/{request.id}/admission-vote", {})
    assert response.status_code == 302
    assert "Person asking to join" in client.get(response.headers["Location"]).text
    assert "See the vote" in client.get(f"/groups/{group.slug}/members").text


@pytest.mark.usefixtures("app_ctx")
def test_analytics_follow_a_k_voted_in_right_after_the_close(db_session, make, assembly):
    group, admin, members = assembly
    for member in members:
        make.consent(member, group, "energy")
        make.intent(member, category=make.category("energy-electricity"))
    tree = load_tree(db_session)
    make.charter(group, k_anonymity=3)
    assert group_figures(db_session, group, Filters(), tree, "en").demand.total.released
    proposal = open_k_change(db_session, group, admin, k=5)
    for member in members:
        decisions.cast_vote(db_session, member, proposal, "yes")
    decisions.close_proposal(db_session, proposal, proposal.closes_at)
    total = group_figures(db_session, group, Filters(), tree, "en").demand.total
    assert (total.members, total.released) == (4, False)  # four members, now fewer than k


@pytest.mark.usefixtures("app_ctx")
def test_a_passing_change_already_in_force_adds_no_empty_version(db_session, make, assembly):
    group, admin, members = assembly
    proposal = open_k_change(db_session, group, admin, k=8)
    make.charter(group, k_anonymity=8)  # the admins did it meanwhile
    for member in members:
        decisions.cast_vote(db_session, member, proposal, "yes")
    decisions.close_proposal(db_session, proposal, proposal.closes_at)
    assert proposal.status == ProposalStatus.PASSED and proposal.result_version_id is None
    assert "same as the ones in force" in proposal.outcome_note
    assert services.version_count(db_session, group) == 2


def test_the_list_of_proposals_costs_the_same_for_one_and_for_ten(
    client, db_session, count_queries, assembly
):
    group, admin, _members = assembly
    login(client, admin)
    url = f"/groups/{group.slug}/proposals"
    counts = []
    for total in (1, 10):
        while len(decisions.proposals_of(db_session, group)) < total:
            decisions.open_proposal(
                db_session, admin, group, kind="motion", title="T", description=""
            )
        db_session.commit()
        client.get(url)
        with count_queries() as counted:
            assert client.get(url).status_code == 200
        counts.append(counted["n"])
    assert counts[0] == counts[1]


@pytest.mark.usefixtures("app_ctx")
def test_an_erased_applicant_is_no_longer_named_in_the_decisions(db_session, make):
    from tecopio.privacy.records import erase_account

    admin = make.user()
    group = make.group(admin=admin, membership_policy="approval", membership__admission="vote")
    member = make.member(group)
    applicant = make.user(display_name="Alice Secret")
    request = make.membership(group, applicant, status=MembershipStatus.PENDING)
    proposal = decisions.open_proposal(
        db_session,
        member,
        group,
        kind="admission",
        title="Admit Alice Secret",
        description="",
        payload={"membership_id": request.id},
    )
    erase_account(db_session, applicant)
    db_session.refresh(proposal)
    assert "Alice" not in proposal.title and "Alice" not in str(proposal.payload)
