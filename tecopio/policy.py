"""Who may do what: the one place that answers it, for pages and API alike.

Predicates (``can_*``, ``is_*``) only answer; ``require`` enforces, turning a
refusal into 403 (or 404 where even the object's existence is private). Routes
ask them through ``tecopio.guards`` before their body runs; templates ask the
same predicates through the ``policy`` global (``init_app``), never a rule of
their own. Where a rule belongs to a state machine (who may withdraw a
proposal), the predicate asks the service that owns it.
"""

import sys

from flask import abort, g, has_request_context

from tecopio.db import db
from tecopio.governance import decisions
from tecopio.governance.charters import admins_may_change, current_charter
from tecopio.groups.models import Group, MembershipStatus
from tecopio.groups.services import membership_of
from tecopio.ledger.posting import has_member_account
from tecopio.partners.models import StaffRole
from tecopio.partners.services import staff_of


def _membership(user, group: Group):
    """The user's membership of the group, looked up once per request.

    Views redirect after every change, so a request never asks again after
    changing a membership.
    """
    if user is None or not user.is_authenticated:
        return None
    if not has_request_context():
        return membership_of(db.session, user, group)
    cache = g.setdefault("policy_memberships", {})
    key = (user.id, group.id)
    if key not in cache:
        cache[key] = membership_of(db.session, user, group)
    return cache[key]


def is_active_member(user, group: Group) -> bool:
    membership = _membership(user, group)
    return membership is not None and membership.status == MembershipStatus.ACTIVE


def is_group_admin(user, group: Group) -> bool:
    membership = _membership(user, group)
    return membership is not None and membership.is_admin


def can_view_group(user, group: Group) -> bool:
    """Every group has a public page (name, description, region, how to join)."""
    return True


def can_join(user, group: Group) -> bool:
    """Signed-in people may try; the group's state rules decide the outcome."""
    return user is not None and user.is_authenticated


def can_leave(user, group: Group) -> bool:
    """Signed-in people may leave (or withdraw a request); the rules refuse the last admin."""
    return user is not None and user.is_authenticated


def can_view_members(user, group: Group) -> bool:
    return is_active_member(user, group)


def can_manage_members(user, group: Group) -> bool:
    return is_group_admin(user, group)


def can_invite(user, group: Group) -> bool:
    return is_group_admin(user, group)


def can_edit_group(user, group: Group) -> bool:
    return is_group_admin(user, group)


def can_view_audit_log(user, group: Group) -> bool:
    return is_group_admin(user, group)


def can_view_analytics(user, group: Group) -> bool:
    """Members see their group's aggregates (never a single member's data)."""
    return is_active_member(user, group)


def can_export_analytics(user, group: Group) -> bool:
    return is_group_admin(user, group)


def can_view_charter(user, group: Group) -> bool:
    """The group's rules and their history, for its members."""
    return is_active_member(user, group)


def can_change_charter_directly(user, group: Group) -> bool:
    """Admins, where the charter in force lets admins change it (else only a vote does)."""
    return is_group_admin(user, group) and admins_may_change(current_charter(db.session, group))


def can_take_part_in_decisions(user, group: Group) -> bool:
    """Read proposals, open them, vote and comment: the group's active members.

    (Which members' votes count on a given proposal is the decision's own rule.)
    """
    return is_active_member(user, group)


def can_see_join_requests(user, group: Group) -> bool:
    """Who decides requests to join sees them: the admins, or every member where members vote."""
    if decisions.admins_admit(current_charter(db.session, group)):
        return is_group_admin(user, group)
    return is_active_member(user, group)


def can_admit_by_decision(user, group: Group) -> bool:
    """Approve or decline a request to join alone: admins, where the charter lets admins admit."""
    return is_group_admin(user, group) and decisions.admins_admit(
        current_charter(db.session, group)
    )


def can_put_admission_to_vote(user, group: Group) -> bool:
    """Members put a request to join to a vote, where the charter says members admit."""
    return is_active_member(user, group) and not decisions.admins_admit(
        current_charter(db.session, group)
    )


def can_withdraw_proposal(user, proposal) -> bool:
    """The proposal's own rule (its author, before anyone votes), as the service enforces it."""
    return (
        user is not None
        and user.is_authenticated
        and decisions.may_withdraw(db.session, user, proposal)
    )


def require(allowed: bool, *, hide: bool = False) -> None:
    """Stop the request unless ``allowed``: 403, or 404 when ``hide`` is set."""
    if not allowed:
        abort(404 if hide else 403)


def can_edit_item(user, item) -> bool:
    """A preference, intent or feedback item: only its owner sees or changes it."""
    return user is not None and user.is_authenticated and item.user_id == user.id


def can_manage_directory(user) -> bool:
    """Merging duplicate companies is for platform admins."""
    return can_operate_platform(user)


def can_operate_platform(user) -> bool:
    """The operator's pages (the directory's upkeep) are for platform admins."""
    return user is not None and user.is_authenticated and user.is_platform_admin


def can_add_company(user) -> bool:
    """Any signed-in person may add a company members name in their data."""
    return user is not None and user.is_authenticated


def _staff(user, partner):
    """The user's place in a company's staff, looked up once per request."""
    if user is None or not user.is_authenticated:
        return None
    if not has_request_context():
        return staff_of(db.session, user, partner)
    cache = g.setdefault("policy_staff", {})
    key = (user.id, partner.id)
    if key not in cache:
        cache[key] = staff_of(db.session, user, partner)
    return cache[key]


def is_company_staff(user, partner) -> bool:
    """People acting for the company now (owners too); removed staff no longer do."""
    staff = _staff(user, partner)
    return staff is not None and staff.active


def is_company_owner(user, partner) -> bool:
    staff = _staff(user, partner)
    return staff is not None and staff.active and staff.role == StaffRole.OWNER


def can_use_partner_portal(user, partner) -> bool:
    """A company's pages (its offers, its details) are for its staff."""
    return is_company_staff(user, partner)


def can_answer_for_company(user, partner) -> bool:
    """A public answer, within a group, to its offer or its feedback: the company's staff."""
    return is_company_staff(user, partner)


def can_pay_invoices(user, partner) -> bool:
    """Paying the company's invoices by card: any of its staff."""
    return is_company_staff(user, partner)


def can_manage_company(user, partner) -> bool:
    """Editing the company's details and its staff: its owners."""
    return is_company_owner(user, partner)


def can_register_company(user) -> bool:
    return user is not None and user.is_authenticated


def can_verify_companies(user) -> bool:
    return can_operate_platform(user)


def can_view_offers(user, group: Group) -> bool:
    """A group's published offers, for its members (drafts: see ``can_manage_offers``)."""
    return is_active_member(user, group)


def can_manage_offers(user, group: Group) -> bool:
    """Building offers, publishing them where the charter lets admins, inviting companies."""
    return is_group_admin(user, group)


def can_bid(user, partner) -> bool:
    """Answering an offer the company was invited to: any of its staff."""
    return is_company_staff(user, partner)


def can_compare_bids(user, group: Group) -> bool:
    """The bids side by side (once bidding closed), for the group's members."""
    return is_active_member(user, group)


def can_view_feed(user, group: Group) -> bool:
    """The group's feed of offers, bids, decisions, deals and companies' answers: members."""
    return is_active_member(user, group)


def can_commit_to_deals(user, group: Group) -> bool:
    """A deal's page, committing to it and withdrawing: the group's active members."""
    return is_active_member(user, group)


def has_no_stake_in(user, offer) -> bool:
    """Staff of a company invited to an offer, members of the group too, see no rival's bid
    and take no part in scoring or choosing: they have a stake in the outcome."""
    return not any(is_company_staff(user, invitation.partner) for invitation in offer.invitations)


def can_see_bid_count(user, group: Group, offer) -> bool:
    """How many bids came in while bidding is open: the admins with no stake in it."""
    return can_decide_on_bids(user, group) and has_no_stake_in(user, offer)


def can_decide_on_bids(user, group: Group) -> bool:
    """Scoring bids and accepting one (or none), directly or by putting it to the members'
    vote, as the charter says: the group's admins."""
    return is_group_admin(user, group)


def can_view_money(user, group: Group) -> bool:
    """The group's ledger (money in, reserve, shared, paid out) and its verification: the
    members whose money it is."""
    return is_active_member(user, group)


def can_manage_money(user, group: Group) -> bool:
    """Recording payments received and payouts made: the group's admins."""
    return is_group_admin(user, group)


def can_see_own_money(user, group: Group) -> bool:
    """One's own balance, statement and payouts: active members, and those who left with a
    balance (leaving keeps what was earned)."""
    if is_active_member(user, group):
        return True
    return (
        user is not None
        and user.is_authenticated
        and has_member_account(db.session, group.id, user.id)
    )


def init_app(app) -> None:
    """Templates ask the same predicates as routes: one global for every blueprint."""
    app.jinja_env.globals["policy"] = sys.modules[__name__]
