"""Group rules at the service level: the membership state machine, admins, invitations, search."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tecopio.audit.models import AuditEvent
from tecopio.db import utcnow
from tecopio.governance.charters import current_charter
from tecopio.groups import services
from tecopio.groups.models import (
    Group,
    InvalidMembershipTransition,
    InvitationStatus,
    Membership,
    MembershipEvent,
    MembershipPolicy,
    MembershipStatus,
    Role,
    next_membership_status,
)
from tecopio.text import InvalidText

pytestmark = pytest.mark.usefixtures("app_ctx")

S = MembershipStatus
E = MembershipEvent
ALL_STATES = [None, *MembershipStatus]

ALLOWED = {
    (None, E.JOIN): S.ACTIVE,
    (S.LEFT, E.JOIN): S.ACTIVE,
    (None, E.REQUEST): S.PENDING,
    (S.LEFT, E.REQUEST): S.PENDING,
    (S.PENDING, E.APPROVE): S.ACTIVE,
    (S.PENDING, E.REJECT): S.REJECTED,
    (S.PENDING, E.CANCEL): S.LEFT,
    (S.ACTIVE, E.LEAVE): S.LEFT,
    (S.ACTIVE, E.REMOVE): S.REMOVED,
    (None, E.ACCEPT_INVITATION): S.ACTIVE,
    (S.PENDING, E.ACCEPT_INVITATION): S.ACTIVE,
    (S.LEFT, E.ACCEPT_INVITATION): S.ACTIVE,
    (S.REJECTED, E.ACCEPT_INVITATION): S.ACTIVE,
    (S.REMOVED, E.ACCEPT_INVITATION): S.ACTIVE,
}


@pytest.mark.parametrize("current", ALL_STATES)
@pytest.mark.parametrize("event", list(MembershipEvent))
def test_membership_state_machine(current, event):
    """Every (state, event) pair: the table above is the whole of what is allowed."""
    expected = ALLOWED.get((current, event))
    if expected is None:
        with pytest.raises(InvalidMembershipTransition):
            next_membership_status(current, event)
    else:
        assert next_membership_status(current, event) == expected


def audit_actions(session, group):
    return session.scalars(
        select(AuditEvent.action).where(AuditEvent.group_id == group.id).order_by(AuditEvent.id)
    ).all()


# --- creating and editing groups ---------------------------------------------


def test_create_group_makes_the_creator_its_first_admin(db_session, make):
    creator = make.user()
    group = services.create_group(
        db_session,
        creator,
        name="  Bilbao   Green Energy ",
        description="Renewable energy, bought together.",
        region="Bilbao",
        policy="approval",
    )
    assert group.name == "Bilbao Green Energy"
    assert group.slug == "bilbao-green-energy"
    assert current_charter(db_session, group).membership_policy == MembershipPolicy.APPROVAL
    membership = services.membership_of(db_session, creator, group)
    assert (membership.role, membership.status) == (Role.ADMIN, S.ACTIVE)
    assert audit_actions(db_session, group) == ["group.created", "charter.adopted"]


def test_slugs_stay_unique_and_ascii(db_session, make):
    user = make.user()
    slugs = [
        services.create_group(
            db_session, user, name=name, description="", region="", policy="open"
        ).slug
        for name in ["Ñandú Kooperatiba", "Ñandú Kooperatiba", "ñandú kooperatiba!", "¡¿?!"]
    ]
    assert slugs == ["nandu-kooperatiba", "nandu-kooperatiba-2", "nandu-kooperatiba-3", "group"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", ""),
        ("name", "<script>alert(1)</script>"),
        ("name", "n" * 101),
        ("region", "r" * 101),
        ("region", "<b>Bilbao</b>"),
        ("description", "d" * 4001),
    ],
)
def test_create_group_refuses_bad_fields_and_writes_nothing(db_session, make, field, value):
    values = {"name": "Good name", "description": "", "region": "", "policy": "open"}
    values[field] = value
    with pytest.raises(InvalidText):
        services.create_group(db_session, make.user(), **values)
    assert db_session.scalar(select(func.count(Group.id))) == 0


def test_create_group_refuses_an_unknown_policy(db_session, make):
    with pytest.raises(ValueError):
        services.create_group(
            db_session, make.user(), name="G", description="", region="", policy="secret"
        )


def test_update_group_records_what_changed(db_session, make):
    admin = make.user()
    group = make.group(admin=admin, name="Old", region="Bilbao")
    services.update_group(db_session, admin, group, name="New", description="", region="Bilbao")
    assert group.name == "New"
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "group.updated"))
    assert event.details == {"changed": ["description", "name"]}


# --- joining and leaving ------------------------------------------------------


def test_joining_an_open_group_is_immediate(db_session, make):
    group = make.group(membership_policy=MembershipPolicy.OPEN)
    user = make.user()
    membership = services.join_group(db_session, user, group)
    assert (membership.status, membership.role) == (S.ACTIVE, Role.MEMBER)
    assert audit_actions(db_session, group)[-1] == "member.joined"


def test_joining_an_approval_group_waits_for_an_admin(db_session, make):
    group = make.group(membership_policy=MembershipPolicy.APPROVAL)
    membership = services.join_group(db_session, make.user(), group)
    assert membership.status == S.PENDING
    assert audit_actions(db_session, group)[-1] == "member.requested"


def test_an_invitation_only_group_cannot_be_joined_directly(db_session, make):
    group = make.group(membership_policy=MembershipPolicy.INVITATION)
    user = make.user()
    with pytest.raises(services.InvitationRequired):
        services.join_group(db_session, user, group)
    assert services.membership_of(db_session, user, group) is None


@pytest.mark.parametrize(
    "policy, error",
    [
        (MembershipPolicy.OPEN, services.AlreadyMember),
        (MembershipPolicy.APPROVAL, services.RequestAlreadyPending),
    ],
)
def test_joining_twice_is_refused(db_session, make, policy, error):
    group = make.group(membership_policy=policy)
    user = make.user()
    services.join_group(db_session, user, group)
    with pytest.raises(error):
        services.join_group(db_session, user, group)
    count = db_session.scalar(
        select(func.count(Membership.id)).where(Membership.group_id == group.id)
    )
    assert count == 2  # the admin and this user, once


def test_someone_who_left_may_join_again(db_session, make):
    group = make.group()
    user = make.member(group)
    services.leave_group(db_session, user, group)
    assert services.join_group(db_session, user, group).status == S.ACTIVE


@pytest.mark.parametrize("status", [S.REMOVED, S.REJECTED])
def test_removed_or_rejected_people_cannot_rejoin_on_their_own(db_session, make, status):
    group = make.group()
    user = make.user()
    make.membership(group, user, status=status)
    with pytest.raises(services.JoinRefused):
        services.join_group(db_session, user, group)
    assert services.membership_of(db_session, user, group).status == status


def test_leaving_and_withdrawing_a_request(db_session, make):
    group = make.group(membership_policy=MembershipPolicy.APPROVAL)
    member, applicant = make.member(group), make.user()
    services.join_group(db_session, applicant, group)
    assert services.leave_group(db_session, applicant, group).status == S.LEFT
    assert services.leave_group(db_session, member, group).status == S.LEFT
    assert audit_actions(db_session, group)[-2:] == ["member.request_withdrawn", "member.left"]


def test_leaving_a_group_one_is_not_in_is_refused(db_session, make):
    with pytest.raises(services.NotAMember):
        services.leave_group(db_session, make.user(), make.group())


def test_the_last_admin_cannot_leave(db_session, make):
    admin = make.user()
    group = make.group(admin=admin)
    make.member(group)
    with pytest.raises(services.LastAdmin):
        services.leave_group(db_session, admin, group)
    assert services.membership_of(db_session, admin, group).is_admin


def test_an_admin_may_leave_when_another_admin_remains(db_session, make):
    admin = make.user()
    group = make.group(admin=admin)
    make.membership(group, role=Role.ADMIN)
    membership = services.leave_group(db_session, admin, group)
    assert (membership.status, membership.role) == (S.LEFT, Role.MEMBER)


# --- admin actions --------------------------------------------------------------


def pending_membership(db_session, make, group):
    return make.membership(group, status=S.PENDING)


def test_approve_and_reject(db_session, make):
    admin = make.user()
    group = make.group(admin=admin, membership_policy=MembershipPolicy.APPROVAL)
    first, second = (
        pending_membership(db_session, make, group),
        pending_membership(db_session, make, group),
    )
    services.approve_member(db_session, admin, first)
    services.reject_member(db_session, admin, second)
    assert (first.status, second.status) == (S.ACTIVE, S.REJECTED)
    assert audit_actions(db_session, group)[-2:] == ["member.approved", "member.rejected"]
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "member.approved"))
    assert (event.actor_id, event.target_user_id) == (admin.id, first.user_id)


@pytest.mark.parametrize("action", [services.approve_member, services.reject_member])
@pytest.mark.parametrize("status", [S.ACTIVE, S.LEFT, S.REMOVED, S.REJECTED])
def test_approve_or_reject_only_apply_to_pending_requests(db_session, make, action, status):
    group = make.group()
    admin = make.admin_of(group)
    membership = make.membership(group, status=status)
    with pytest.raises(services.InvalidMemberAction):
        action(db_session, admin, membership)
    assert membership.status == status


def test_promote_and_demote(db_session, make):
    admin = make.user()
    group = make.group(admin=admin)
    membership = make.membership(group)
    services.promote_member(db_session, admin, membership)
    assert membership.is_admin
    services.demote_member(
        db_session, membership.user, services.membership_of(db_session, admin, group)
    )
    assert not services.membership_of(db_session, admin, group).is_admin
    assert audit_actions(db_session, group)[-2:] == ["member.promoted", "member.demoted"]


def test_promoting_an_admin_or_a_pending_member_is_refused(db_session, make):
    group = make.group()
    admin_membership = make.admins(group)[0]
    with pytest.raises(services.InvalidMemberAction):
        services.promote_member(db_session, admin_membership.user, admin_membership)
    pending = make.membership(group, status=S.PENDING)
    with pytest.raises(services.InvalidMemberAction):
        services.promote_member(db_session, admin_membership.user, pending)
    assert pending.role == Role.MEMBER


def test_the_last_admin_cannot_be_demoted_or_removed(db_session, make):
    group = make.group()
    make.member(group)
    admin_membership = make.admins(group)[0]
    with pytest.raises(services.LastAdmin):
        services.demote_member(db_session, admin_membership.user, admin_membership)
    with pytest.raises(services.LastAdmin):
        services.remove_member(db_session, admin_membership.user, admin_membership)
    assert admin_membership.is_admin


def test_remove_member(db_session, make):
    group = make.group()
    admin = make.admin_of(group)
    membership = make.membership(group, role=Role.ADMIN)
    services.remove_member(db_session, admin, membership)
    assert (membership.status, membership.role) == (S.REMOVED, Role.MEMBER)
    with pytest.raises(services.InvalidMemberAction):
        services.remove_member(db_session, admin, membership)


# --- invitations ------------------------------------------------------------------


def test_invite_and_accept(db_session, make):
    group = make.group(membership_policy=MembershipPolicy.INVITATION)
    admin = make.admin_of(group)
    invitation = services.invite(db_session, admin, group, " Lucia@Example.com", valid_days=14)
    assert invitation.email == "lucia@example.com"
    lucia = make.user(email="lucia@example.com")
    membership = services.accept_invitation(db_session, lucia, invitation)
    assert (membership.status, membership.role) == (S.ACTIVE, Role.MEMBER)
    assert invitation.status == InvitationStatus.ACCEPTED
    assert audit_actions(db_session, group)[-2:] == ["invitation.sent", "invitation.accepted"]


def test_inviting_the_same_address_again_renews_the_invitation(db_session, make):
    group = make.group()
    admin = make.admin_of(group)
    now = utcnow()
    first = services.invite(db_session, admin, group, "a@example.com", valid_days=1, now=now)
    later = now + timedelta(hours=5)
    second = services.invite(db_session, admin, group, "A@example.com", valid_days=1, now=later)
    assert first is second
    assert second.expires_at == later + timedelta(days=1)
    assert len(services.pending_invitations(db_session, group)) == 1


def test_inviting_an_active_member_is_refused(db_session, make):
    group = make.group()
    member = make.member(group)
    with pytest.raises(services.InviteeAlreadyMember):
        services.invite(db_session, make.admin_of(group), group, member.email, valid_days=14)
    assert services.pending_invitations(db_session, group) == []


def test_an_invitation_lets_a_removed_member_back_in(db_session, make):
    group = make.group()
    user = make.user()
    make.membership(group, user, status=S.REMOVED)
    invitation = make.invitation(group, email=user.email)
    assert services.accept_invitation(db_session, user, invitation).status == S.ACTIVE


def test_an_invitation_is_only_for_its_address(db_session, make):
    group = make.group()
    invitation = make.invitation(group, email="lucia@example.com")
    intruder = make.user()
    with pytest.raises(services.InvitationNotForYou):
        services.accept_invitation(db_session, intruder, invitation)
    assert services.membership_of(db_session, intruder, group) is None
    assert invitation.status == InvitationStatus.PENDING


def test_expired_invitations_cannot_be_answered(db_session, make):
    group = make.group()
    user = make.user()
    invitation = make.invitation(
        group, email=user.email, expires_at=utcnow() - timedelta(seconds=1)
    )
    with pytest.raises(services.InvitationExpired):
        services.accept_invitation(db_session, user, invitation)
    assert services.membership_of(db_session, user, group) is None


@pytest.mark.parametrize(
    "status", [InvitationStatus.ACCEPTED, InvitationStatus.DECLINED, InvitationStatus.REVOKED]
)
def test_answered_or_revoked_invitations_cannot_be_used(db_session, make, status):
    group = make.group()
    user = make.user()
    invitation = make.invitation(group, email=user.email, status=status)
    with pytest.raises(services.InvitationUsed):
        services.accept_invitation(db_session, user, invitation)
    with pytest.raises(services.InvitationUsed):
        services.decline_invitation(db_session, user, invitation)
    assert services.membership_of(db_session, user, group) is None


def test_decline_and_revoke(db_session, make):
    group = make.group()
    user = make.user()
    declined = make.invitation(group, email=user.email)
    services.decline_invitation(db_session, user, declined)
    assert declined.status == InvitationStatus.DECLINED
    revoked = make.invitation(group)
    services.revoke_invitation(db_session, make.admin_of(group), revoked)
    assert revoked.status == InvitationStatus.REVOKED
    with pytest.raises(services.InvitationUsed):
        services.revoke_invitation(db_session, make.admin_of(group), revoked)


def test_invitation_tokens(db_session, make):
    invitation = make.invitation(make.group())
    token = services.invitation_token(invitation, "secret")
    assert services.invitation_from_token(db_session, token, "secret") is invitation
    for bad in (token + "x", token.replace(".", "_", 1), "garbage", ""):
        with pytest.raises(services.InvitationInvalid):
            services.invitation_from_token(db_session, bad, "secret")
    with pytest.raises(services.InvitationInvalid):
        services.invitation_from_token(db_session, token, "another secret")


# --- finding groups -----------------------------------------------------------------


def test_search_by_name_or_region_any_case_with_member_counts(db_session, make):
    energy = make.group(name="Bilbao Green Energy", region="Bizkaia")
    make.member(energy)
    make.membership(energy, status=S.PENDING)
    make.group(name="Food Circle", region="Bilbao")
    make.group(name="Repair Café", region="Donostia")
    rows, total = services.search_groups(db_session, "bilbao")
    assert total == 2
    assert [(group.name, count) for group, count in rows] == [
        ("Bilbao Green Energy", 2),
        ("Food Circle", 1),
    ]
    assert services.search_groups(db_session, "DONOSTIA")[1] == 1


def test_search_treats_wildcards_literally(db_session, make):
    make.group(name="100% local")
    make.group(name="Local")
    rows, total = services.search_groups(db_session, "100%")
    assert [group.name for group, _ in rows] == ["100% local"]
    assert services.search_groups(db_session, "_")[1] == 0


def test_search_pages(db_session, make):
    for n in range(5):
        make.group(name=f"Group {n}")
    rows, total = services.search_groups(db_session, "", page=2, per_page=2)
    assert total == 5
    assert [group.name for group, _ in rows] == ["Group 2", "Group 3"]
