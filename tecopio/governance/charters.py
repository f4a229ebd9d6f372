"""The charter in force, its history, and the only ways it changes.

Every feature reads a group's rules through ``current_charter``; nothing
keeps its own copy. A new version is written by ``adopt`` alone, which its
callers reach through a decision: the founding of the group, an admin where
the charter in force lets admins change it, or (with proposals) a vote.
"""

from dataclasses import replace

from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.categories.models import Category
from tecopio.governance.charter import Charter, CharterError, defaults, diff, flatten, validate
from tecopio.governance.models import Adoption, CharterVersion
from tecopio.groups.models import Group, Membership, MembershipStatus
from tecopio.text import clean_paragraphs

REASON_MAX = 1000


class GovernanceError(Exception):
    message = _l("This cannot be done.")


class VoteRequired(GovernanceError):
    message = _l("The charter says its changes are decided by a vote of the members.")


class NothingChanged(GovernanceError):
    message = _l("The new rules are the same as the ones in force.")


class OutdatedForm(GovernanceError):
    message = _l("This form is out of date. Reload the page and make your changes again.")


class InvalidCharter(GovernanceError):
    message = _l("Some rules are not valid.")

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def top_category_slugs(session: Session) -> frozenset[str]:
    return frozenset(session.scalars(select(Category.slug).where(Category.parent_id.is_(None))))


def _cache(session: Session) -> dict:
    return session.info.setdefault("charters", {})


def _forget_charters(session, transaction):
    """Another transaction may have adopted a version since: read it again."""
    session.info.pop("charters", None)


def current_version(session: Session, group_id: int) -> CharterVersion | None:
    return session.scalar(
        select(CharterVersion)
        .where(CharterVersion.group_id == group_id)
        .order_by(CharterVersion.number.desc())
        .limit(1)
    )


def charter_of(version: CharterVersion) -> Charter:
    """A stored version's rules (validated again: a stored version is always complete)."""
    return replace(validate(flatten(version.rules), None), number=version.number)


def current_charter(session: Session, group: Group) -> Charter:
    """The rules in force for the group, read once per transaction."""
    cache = _cache(session)
    if group.id not in cache:
        version = current_version(session, group.id)
        cache[group.id] = charter_of(version) if version is not None else defaults()
    return cache[group.id]


def current_charters(session: Session, group_ids) -> dict[int, Charter]:
    """The charters in force for several groups, in one statement (lists of groups)."""
    latest = (
        select(CharterVersion.group_id, func.max(CharterVersion.number).label("number"))
        .where(CharterVersion.group_id.in_(group_ids))
        .group_by(CharterVersion.group_id)
        .subquery()
    )
    versions = session.scalars(
        select(CharterVersion).join(
            latest,
            (CharterVersion.group_id == latest.c.group_id)
            & (CharterVersion.number == latest.c.number),
        )
    )
    found = {version.group_id: charter_of(version) for version in versions}
    return {group_id: found.get(group_id) or defaults() for group_id in group_ids}


def build_charter(session: Session, base: Charter, changes: dict) -> Charter:
    """``base`` with ``changes`` (flat paths), validated; InvalidCharter lists what is wrong."""
    try:
        return validate({**base.values, **changes}, top_category_slugs(session))
    except CharterError as error:
        raise InvalidCharter(error.errors) from error


def adopt(
    session: Session,
    group: Group,
    charter: Charter,
    *,
    adoption: Adoption,
    actor: User | None,
    reason: str = "",
) -> CharterVersion:
    """Put ``charter`` in force as the group's next version.

    The group's row lock (PostgreSQL) orders concurrent adoptions, and the
    unique (group, number) pair refuses a second version with the same
    number, so a version is never lost or written twice.
    """
    session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    previous = current_version(session, group.id)
    number = (previous.number if previous else 0) + 1
    version = CharterVersion(
        group_id=group.id,
        number=number,
        rules=charter.document(),
        adoption=adoption,
        adopted_by_id=actor.id if actor else None,
        reason=clean_paragraphs(reason, max_length=REASON_MAX),
    )
    session.add(version)
    session.flush()
    changed = (
        [rule.path for rule, _old, _new in diff(charter_of(previous), charter)] if previous else []
    )
    record(
        session,
        "charter.adopted",
        actor=actor,
        group=group,
        number=number,
        adoption=str(adoption),
        changed=changed,
    )
    _cache(session)[group.id] = replace(charter, number=number)
    return version


def found_charter(session: Session, group: Group, founder: User, changes: dict) -> CharterVersion:
    """A new group's first charter: the defaults with the founder's choices."""
    charter = build_charter(session, defaults(), changes)
    return adopt(session, group, charter, adoption=Adoption.FOUNDING, actor=founder)


def admins_may_change(charter: Charter) -> bool:
    return charter["decisions.charter_changes"] == "admins"


def change_by_admin(
    session: Session, actor: User, group: Group, changes: dict, reason: str = ""
) -> CharterVersion:
    """An admin's change, where the charter in force lets admins change it.

    Recorded as a version adopted by that admin, with the reason given, so
    the history of decisions stays complete. (Whether ``actor`` is an admin
    is the policy's question, asked by the caller.)
    """
    charter = current_charter(session, group)
    if not admins_may_change(charter):
        raise VoteRequired()
    new = build_charter(session, charter, changes)
    if not diff(charter, new):
        raise NothingChanged()
    return adopt(session, group, new, adoption=Adoption.ADMINS, actor=actor, reason=reason)


def history(session: Session, group: Group) -> list[CharterVersion]:
    """Every version, newest first, with who adopted it (one statement)."""
    return list(
        session.scalars(
            select(CharterVersion)
            .where(CharterVersion.group_id == group.id)
            .options(joinedload(CharterVersion.adopted_by))
            .order_by(CharterVersion.number.desc())
        )
    )


def version_count(session: Session, group: Group) -> int:
    return session.scalar(
        select(func.count(CharterVersion.id)).where(CharterVersion.group_id == group.id)
    )


def electorate(group_id: int, opens_at):
    """Conditions on memberships that may vote on a proposal opened at ``opens_at``.

    Members active since before it opened and still active: the one rule
    that votes, the quorum and notifications all follow.
    """
    return (
        Membership.group_id == group_id,
        Membership.status == MembershipStatus.ACTIVE,
        Membership.active_since <= opens_at,
    )


def init_app(app) -> None:
    """Charters read in a transaction are forgotten when it ends (connected once)."""
    if not event.contains(Session, "after_transaction_end", _forget_charters):
        event.listen(Session, "after_transaction_end", _forget_charters)
