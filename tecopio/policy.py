"""Who may do what: the one place that answers it, for pages and API alike.

Predicates (``can_*``, ``is_*``) only answer; ``require`` enforces, turning a
refusal into 403 (or 404 where even the object's existence is private).
"""

from flask import abort

from tecopio.db import db
from tecopio.groups.models import Group, Invitation, MembershipStatus
from tecopio.groups.services import membership_of


def _membership(user, group: Group):
    if user is None or not user.is_authenticated:
        return None
    return membership_of(db.session, user, group)


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


def can_revoke_invitation(user, invitation: Invitation) -> bool:
    return is_group_admin(user, invitation.group)


def require(allowed: bool, *, hide: bool = False) -> None:
    """Stop the request unless ``allowed``: 403, or 404 when ``hide`` is set."""
    if not allowed:
        abort(404 if hide else 403)
