"""Consent: which of a member's items each group may count in its aggregates.

Consent is given per group and per top-level category (it covers the
sub-categories). Every change is appended to ``consent_events``; the
``consents`` table holds the state in force and is updated in the same
transaction, so a withdrawal takes effect at once. Nothing is shared by
default.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, event, func, select
from sqlalchemy.orm import Session, aliased, joinedload

from tecopio import events
from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.categories.models import Category
from tecopio.db import utcnow
from tecopio.groups.models import Group, Membership, MembershipStatus
from tecopio.privacy.models import Consent, ConsentEvent


class AppendOnlyViolation(RuntimeError):
    """Something tried to change or delete a consent event."""


class ConsentError(ValueError):
    message = _l("Consent can only be given to groups you are an active member of.")


def guard_append_only(session, flush_context, instances):
    for obj in session.deleted:
        if isinstance(obj, ConsentEvent):
            raise AppendOnlyViolation("consent events are never deleted one by one")
    for obj in session.dirty:
        if isinstance(obj, ConsentEvent) and session.is_modified(obj):
            raise AppendOnlyViolation("consent events are never changed")


def current_consents(session: Session, user: User) -> dict[tuple[int, int], bool]:
    rows = session.execute(
        select(Consent.group_id, Consent.category_id, Consent.granted).where(
            Consent.user_id == user.id
        )
    )
    return {(group_id, category_id): granted for group_id, category_id, granted in rows}


def set_consent(
    session: Session, user: User, group: Group, category: Category, granted: bool
) -> ConsentEvent | None:
    """Record a decision; returns the new event, or None when nothing changed."""
    membership = session.scalar(
        select(Membership).where(Membership.group_id == group.id, Membership.user_id == user.id)
    )
    if membership is None or membership.status != MembershipStatus.ACTIVE:
        raise ConsentError()
    if category.parent_id is not None:
        raise ValueError("consent is given for top-level categories")
    current = session.scalar(
        select(Consent).where(
            Consent.user_id == user.id,
            Consent.group_id == group.id,
            Consent.category_id == category.id,
        )
    )
    if (current.granted if current else False) == granted:
        return None
    if current is None:
        current = Consent(user_id=user.id, group_id=group.id, category_id=category.id)
        session.add(current)
    current.granted = granted
    current.updated_at = utcnow()
    consent_event = ConsentEvent(
        user_id=user.id, group_id=group.id, category_id=category.id, granted=granted
    )
    session.add(consent_event)
    session.flush()
    record(
        session,
        "consent.granted" if granted else "consent.withdrawn",
        actor=user,
        target_user=user,
        group_name=group.name,
        category=category.slug,
    )
    return consent_event


def withdraw_group_consents(session: Session, user: User, group: Group) -> int:
    """End every consent a person gave a group (they left or were removed); logged as usual."""
    granted = session.scalars(
        select(Consent).where(
            Consent.user_id == user.id, Consent.group_id == group.id, Consent.granted.is_(True)
        )
    ).all()
    for consent in granted:
        consent.granted = False
        consent.updated_at = utcnow()
        session.add(
            ConsentEvent(
                user_id=user.id, group_id=group.id, category_id=consent.category_id, granted=False
            )
        )
    if granted:
        session.flush()
        record(
            session,
            "consent.ended",
            actor=user,
            target_user=user,
            group_name=group.name,
            count=len(granted),
        )
    return len(granted)


def end_consents_of_leaver(group: Group, *, session: Session, user: User) -> None:
    """``member_left``: a person who leaves or is removed stops sharing with the group."""
    withdraw_group_consents(session, user, group)


def init_app(app) -> None:
    """Connect privacy's handlers: the consent log's guard, and the end of a leaver's consents."""
    if not event.contains(Session, "before_flush", guard_append_only):
        event.listen(Session, "before_flush", guard_append_only)
    events.connect(events.member_left, end_consents_of_leaver)


def consent_history(session: Session, user: User) -> list[ConsentEvent]:
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.user_id == user.id)
            .options(joinedload(ConsentEvent.group), joinedload(ConsentEvent.category))
            .order_by(ConsentEvent.created_at.desc(), ConsentEvent.id.desc())
        )
    )


def _active_membership(user_id, group_id: int):
    """The join condition: ``user_id`` is an active member of the group."""
    return and_(
        Membership.user_id == user_id,
        Membership.group_id == group_id,
        Membership.status == MembershipStatus.ACTIVE,
    )


def shared_with_group(model, group_id: int, *columns, roots=None):
    """A SELECT of ``model`` rows (preferences, intents, feedback) a group may count.

    The owner must be an active member who consents, for this group, to the
    item's top-level category. Analytics builds on this; nothing else decides
    what a group may see. With ``columns`` the SELECT returns just those
    (``root_category_id`` names the item's top-level category); ``roots``
    keeps only items under those top-level categories (None: all).
    """
    category = aliased(Category, name="item_category")
    root = func.coalesce(category.parent_id, category.id)
    selected = [column(model, category) if callable(column) else column for column in columns] or [
        model
    ]
    statement = (
        select(*selected)
        .join(category, category.id == model.category_id)
        .join(Membership, _active_membership(model.user_id, group_id))
        .join(
            Consent,
            and_(
                Consent.user_id == model.user_id,
                Consent.group_id == group_id,
                Consent.category_id == root,
                Consent.granted.is_(True),
            ),
        )
    )
    return statement if roots is None else statement.where(root.in_(roots))


def sharing_members(group_id: int, roots=None):
    """A SELECT of the user ids of active members who share something with the group.

    The same rule as ``shared_with_group``: consent for the group to a
    top-level category, within ``roots`` (the charter's limit; None: all).
    """
    statement = (
        select(Consent.user_id)
        .join(Membership, _active_membership(Consent.user_id, group_id))
        .where(Consent.group_id == group_id, Consent.granted.is_(True))
    )
    return statement if roots is None else statement.where(Consent.category_id.in_(roots))


def root_category_id(model, category):
    """For ``shared_with_group`` columns: the item's top-level category id."""
    return func.coalesce(category.parent_id, category.id).label("root_id")
