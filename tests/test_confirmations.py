"""Every action that cannot be undone asks first, without JavaScript.

The first submit renders a page that says what will happen and changes
nothing (no row, no audit event); only the second submit, made from that
page with ``confirmed``, acts. An action that could not happen anyway is
refused at once rather than asked about.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from tecopio.audit.models import AuditEvent
from tecopio.directory.models import Company
from tecopio.governance import decisions
from tecopio.governance.models import Proposal, ProposalStatus
from tecopio.groups.models import (
    Invitation,
    InvitationStatus,
    MembershipPolicy,
    MembershipStatus,
)
from tecopio.groups.services import membership_of
from tecopio.memberdata.models import Feedback, Intent, Preference
from tests.factories import PASSWORD


@dataclass
class Case:
    user: object
    url: str
    data: dict
    words: list[str]
    state: Callable[[], object]
    cancel: str


def login(client, user):
    assert client.submit("/login", {"email": user.email, "password": PASSWORD}).status_code == 302


def remove_member(make, db_session):
    admin = make.user(display_name="Ane")
    group = make.group(admin=admin, name="Bilbao Energy")
    member = make.member(group, display_name="Jon")
    membership = membership_of(db_session, member, group)
    return Case(
        admin,
        f"/groups/{group.slug}/members/{membership.id}/remove",
        {},
        ["Remove Jon from Bilbao Energy?", "invite them again"],
        lambda: membership_of(db_session, member, group).status,
        f"/groups/{group.slug}/members",
    )


def decline_request(make, db_session):
    admin = make.user(display_name="Ane")
    group = make.group(admin=admin, membership_policy=MembershipPolicy.APPROVAL)
    applicant = make.user(display_name="Lucía")
    membership = make.membership(group, applicant, status=MembershipStatus.PENDING)
    return Case(
        admin,
        f"/groups/{group.slug}/members/{membership.id}/reject",
        {},
        ["Decline the request of Lucía?", "will be told"],
        lambda: membership_of(db_session, applicant, group).status,
        f"/groups/{group.slug}/members",
    )


def leave_group(make, db_session):
    group = make.group(name="Bilbao Energy", membership_policy=MembershipPolicy.APPROVAL)
    member = make.member(group)
    make.consent(member, group, "energy")
    make.consent(member, group, "food")
    return Case(
        member,
        f"/groups/{group.slug}/leave",
        {},
        ["Leave Bilbao Energy?", "Your 2 sharing choices with this group end now", "ask again"],
        lambda: membership_of(db_session, member, group).status,
        f"/groups/{group.slug}",
    )


def delete_item(kind, model, words):
    def case(make, db_session):
        user = make.user()
        item = getattr(make, kind)(user)
        item_id = item.id
        return Case(
            user,
            f"/my/{kind}/{item_id}/delete",
            {},
            words,
            lambda: db_session.scalar(select(func.count(model.id)).where(model.id == item_id)),
            {"preference": "/my/preferences", "intent": "/my/intents"}.get(kind, "/my/feedback"),
        )

    return case


def withdraw_proposal(make, db_session):
    group = make.group()
    author = make.member(group)
    proposal = decisions.open_proposal(
        db_session, author, group, kind="motion", title="Solar panels", description=""
    )
    db_session.commit()
    return Case(
        author,
        f"/groups/{group.slug}/proposals/{proposal.number}/withdraw",
        {},
        [f"Withdraw proposal #{proposal.number}?", "Solar panels", "not counted"],
        lambda: db_session.get(Proposal, proposal.id).status,
        f"/groups/{group.slug}/proposals/{proposal.number}",
    )


def revoke_invitation(make, db_session):
    admin = make.user()
    group = make.group(admin=admin)
    invitation = make.invitation(group, email="miren@example.com")
    return Case(
        admin,
        f"/groups/{group.slug}/invitations/{invitation.id}/revoke",
        {},
        ["Withdraw the invitation to miren@example.com?", "stops working"],
        lambda: db_session.get(Invitation, invitation.id).status,
        f"/groups/{group.slug}/invitations",
    )


def merge_companies(make, db_session):
    kept = make.company(name="Som Energia", website="https://somenergia.coop")
    duplicate = make.company(name="Som Energia SCCL")
    return Case(
        make.user(is_platform_admin=True),
        "/admin/companies/merge",
        {"source_id": duplicate.id, "target_id": kept.id},
        [
            "Merge Som Energia SCCL into Som Energia?",
            "https://somenergia.coop",
            "cannot be undone",
        ],
        lambda: db_session.get(Company, duplicate.id).merged_into_id,
        f"/admin/companies/merge?source={duplicate.id}&amp;target={kept.id}",
    )


CASES = {
    "remove a member": (remove_member, MembershipStatus.REMOVED),
    "decline a request": (decline_request, MembershipStatus.REJECTED),
    "leave a group": (leave_group, MembershipStatus.LEFT),
    "delete a preference": (
        delete_item("preference", Preference, ["Delete your preference about", "for good"]),
        0,
    ),
    "delete an intent": (
        delete_item("intent", Intent, ["Delete your purchase intent for", "for good"]),
        0,
    ),
    "delete feedback": (
        delete_item("feedback", Feedback, ["Delete your feedback about", "for good"]),
        0,
    ),
    "withdraw a proposal": (withdraw_proposal, ProposalStatus.WITHDRAWN),
    "withdraw an invitation": (revoke_invitation, InvitationStatus.REVOKED),
    "merge companies": (merge_companies, "merged"),
}


def audit_count(db_session) -> int:
    return db_session.scalar(select(func.count(AuditEvent.id)))


@pytest.mark.parametrize("name", list(CASES))
def test_the_first_submit_only_asks_and_the_second_acts(client, make, db_session, name):
    build, after = CASES[name]
    case = build(make, db_session)
    login(client, case.user)
    before, events = case.state(), audit_count(db_session)

    asked = client.submit(case.url, case.data)

    assert asked.status_code == 200
    assert (case.state(), audit_count(db_session)) == (before, events)
    assert 'name="confirmed" value="yes"' in asked.text
    assert "What will happen" in asked.text
    for words in case.words:
        assert words in asked.text
    assert f'href="{case.cancel}"' in asked.text

    done = client.submit(case.url, {**case.data, "confirmed": "yes"})

    assert done.status_code == 302
    state = case.state()
    assert state == after if after != "merged" else state is not None
    assert audit_count(db_session) > events


@pytest.mark.parametrize("confirmed", ["", "no", "YES", "1"])
def test_only_the_exact_confirmation_acts(client, make, db_session, confirmed):
    case = remove_member(make, db_session)
    login(client, case.user)
    asked = client.submit(case.url, {"confirmed": confirmed})
    assert asked.status_code == 200
    assert case.state() == MembershipStatus.ACTIVE


def test_the_confirmation_page_carries_the_forms_fields(client, make, db_session):
    case = merge_companies(make, db_session)
    login(client, case.user)
    page = client.submit(case.url, case.data).text
    for name, value in case.data.items():
        assert f'name="{name}" value="{value}"' in page
    assert "csrf_token" in page


def test_an_action_that_cannot_happen_is_refused_at_once(client, make, db_session):
    admin = make.user()
    group = make.group(admin=admin)
    login(client, admin)
    # The only admin can neither leave nor be removed: no question, a refusal.
    leave = client.submit(f"/groups/{group.slug}/leave")
    assert leave.status_code == 409 and 'name="confirmed"' not in leave.text
    own = membership_of(db_session, admin, group)
    remove = client.submit(f"/groups/{group.slug}/members/{own.id}/remove")
    assert remove.status_code == 409 and 'name="confirmed"' not in remove.text
    # A proposal with votes can no longer be withdrawn.
    author = make.member(group)
    proposal = decisions.open_proposal(
        db_session, author, group, kind="motion", title="Solar", description=""
    )
    decisions.cast_vote(db_session, admin, proposal, "yes")
    db_session.commit()
    login(client, author)
    withdraw = client.submit(f"/groups/{group.slug}/proposals/{proposal.number}/withdraw")
    assert withdraw.status_code == 409 and 'name="confirmed"' not in withdraw.text
    assert db_session.get(Proposal, proposal.id).status == ProposalStatus.OPEN


def test_a_merge_of_one_company_with_itself_is_refused_before_any_question(
    client, make, db_session
):
    company = make.company(name="Iberdrola")
    login(client, make.user(is_platform_admin=True))
    page = client.submit(
        "/admin/companies/merge", {"source_id": company.id, "target_id": company.id}
    )
    assert page.status_code == 400
    assert "must be another company" in page.text
    assert 'name="confirmed"' not in page.text


def test_withdrawing_a_pending_request_needs_no_confirmation(client, make, db_session):
    group = make.group(membership_policy=MembershipPolicy.APPROVAL)
    applicant = make.user()
    make.membership(group, applicant, status=MembershipStatus.PENDING)
    login(client, applicant)
    assert client.submit(f"/groups/{group.slug}/leave").status_code == 302
    assert membership_of(db_session, applicant, group).status == MembershipStatus.LEFT


def test_an_answered_invitation_or_a_committed_intent_is_refused_without_a_question(
    client, make, db_session
):
    from tecopio.groups.models import InvitationStatus
    from tecopio.memberdata.models import IntentStatus

    admin = make.user()
    group = make.group(admin=admin)
    invitation = make.invitation(group, status=InvitationStatus.ACCEPTED)
    intent = make.intent(admin, status=IntentStatus.COMMITTED)
    login(client, admin)
    revoked = client.submit(f"/groups/{group.slug}/invitations/{invitation.id}/revoke")
    assert revoked.status_code == 409 and 'name="confirmed"' not in revoked.text
    deleted = client.submit(f"/my/intent/{intent.id}/delete")
    assert deleted.status_code == 409 and 'name="confirmed"' not in deleted.text
    assert db_session.get(Intent, intent.id) is not None
