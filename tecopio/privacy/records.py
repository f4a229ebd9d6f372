"""A member's complete record: the "my data" page, the export, and erasure.

What the export holds and erasure does comes from the registry every feature
fills (``registry.py``); this module runs it.
"""

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.audit.labels import OWN_DEAL_STEPS
from tecopio.audit.models import AuditEvent
from tecopio.audit.services import record
from tecopio.db import utcnow
from tecopio.directory.models import Company
from tecopio.groups.models import Group, Invitation, Membership, MembershipStatus, Role
from tecopio.memberdata.services import feedback_of, intents_of, preferences_of
from tecopio.privacy.models import Consent
from tecopio.privacy.registry import iso, personal_data
from tecopio.privacy.services import consent_history
from tecopio.text import spreadsheet_safe


@dataclass
class MemberRecord:
    user: User
    memberships: list
    preferences: list
    intents: list
    feedback: list
    consents: list
    invitations: list
    consent_history: list
    companies_added: list
    activity: list = field(default_factory=list)


def member_record(
    session: Session, user: User, *, activity_limit: int | None = 200
) -> MemberRecord:
    memberships = list(
        session.scalars(
            select(Membership)
            .options(joinedload(Membership.group))
            .where(Membership.user_id == user.id)
            .order_by(Membership.created_at)
        )
    )
    consents = list(
        session.scalars(
            select(Consent)
            .options(joinedload(Consent.group), joinedload(Consent.category))
            .where(Consent.user_id == user.id)
            .order_by(Consent.group_id, Consent.category_id)
        )
    )
    invitations = list(
        session.scalars(
            select(Invitation)
            .options(joinedload(Invitation.group))
            .where(Invitation.email == user.email)
            .order_by(Invitation.created_at)
        )
    )
    activity = (
        select(AuditEvent)
        .where(
            or_(
                AuditEvent.target_user_id == user.id,
                and_(AuditEvent.actor_id == user.id, AuditEvent.action.in_(OWN_DEAL_STEPS)),
            )
        )
        .options(joinedload(AuditEvent.group), joinedload(AuditEvent.actor))
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    )
    if activity_limit:
        activity = activity.limit(activity_limit)
    return MemberRecord(
        user=user,
        memberships=memberships,
        preferences=preferences_of(session, user),
        intents=intents_of(session, user),
        feedback=feedback_of(session, user),
        consents=consents,
        invitations=invitations,
        consent_history=consent_history(session, user),
        companies_added=list(
            session.scalars(
                select(Company).where(Company.created_by_id == user.id).order_by(Company.id)
            )
        ),
        activity=list(session.scalars(activity).unique()),
    )


EXPORT_SUMMARY = _l(
    "Everything Tecopio holds about you. data.json holds all of it; each part is also a CSV "
    "file, for spreadsheets:"
)


def export_data(session: Session, user: User) -> dict:
    """Everything Tecopio holds about the member, as plain JSON-ready data.

    One section per contribution of the registry (``registry.py``), in its
    order; ``about`` names them and says what is left out, and why.
    """
    contributions = personal_data()
    return {
        "exported_at": iso(utcnow()),
        "about": {
            "summary": str(EXPORT_SUMMARY),
            "sections": {c.name: str(c.title) for c in contributions},
            "not_included": [str(c.withheld) for c in contributions if c.withheld],
        },
        **{c.name: c.export(session, user) for c in contributions},
    }


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    key: spreadsheet_safe(
                        ";".join(map(str, value))
                        if isinstance(value, list)
                        else json.dumps(value, ensure_ascii=False)
                        if isinstance(value, dict)
                        else value
                    )
                    for key, value in row.items()
                }
            )
    return out.getvalue()


def _readme(data: dict) -> str:
    about = data["about"]
    lines = [about["summary"], ""]
    lines += [f"{name}.csv: {title}" for name, title in about["sections"].items()]
    lines += ["", *about["not_included"], "", data["exported_at"], ""]
    return "\n".join(lines)


def export_zip(data: dict) -> bytes:
    """README.txt, data.json with everything, and one CSV per section for spreadsheets."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", _readme(data))
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2))
        for section in data["about"]["sections"]:
            rows = data[section]
            archive.writestr(f"{section}.csv", _csv(rows if isinstance(rows, list) else [rows]))
    return buffer.getvalue()


# --- erasure ---------------------------------------------------------------------


class ErasureBlocked(Exception):
    def __init__(self, groups):
        super().__init__(", ".join(g.name for g in groups))
        self.groups = groups
        self.message = _l(
            "You are the last admin of %(groups)s. "
            "Make another member admin first, or answer the requests to join.",
            groups=", ".join(g.name for g in groups),
        )


def groups_blocking_erasure(session: Session, user: User, *, lock: bool = False) -> list:
    """Groups the user is the last admin of while others are members or waiting to join.

    With ``lock`` the groups' rows are locked first (PostgreSQL), as every
    other change to a group's admins does.
    """
    blocking = []
    administered = list(
        session.scalars(
            select(Membership)
            .options(joinedload(Membership.group))
            .where(
                Membership.user_id == user.id,
                Membership.status == MembershipStatus.ACTIVE,
                Membership.role == Role.ADMIN,
            )
        )
    )
    if lock and administered:
        session.execute(
            select(Group.id)
            .where(Group.id.in_([m.group_id for m in administered]))
            .order_by(Group.id)
            .with_for_update()
        )
    for membership in administered:
        counts = session.execute(
            select(
                func.count().filter(
                    Membership.role == Role.ADMIN, Membership.status == MembershipStatus.ACTIVE
                ),
                func.count(),
            ).where(
                Membership.group_id == membership.group_id,
                Membership.status.in_([MembershipStatus.ACTIVE, MembershipStatus.PENDING]),
                Membership.user_id != user.id,
            )
        ).one()
        other_admins, other_members = counts
        if other_admins == 0 and other_members > 0:
            blocking.append(membership.group)
    return blocking


def erase_account(session: Session, user: User) -> None:
    """Delete the member's personal data; keep a nameless row others' records point to.

    Each contribution of the registry (``registry.py``) does its part, in
    the reverse order of registration: the account, whose address the others
    still use, is cleared last. What each deletes and keeps is what the
    erasure page says, from the same list.
    """
    blocking = groups_blocking_erasure(session, user, lock=True)
    if blocking:
        raise ErasureBlocked(blocking)
    # Marked first: the database lets consent history go only for erased accounts.
    user.erased_at = utcnow()
    session.flush()
    for contribution in reversed(personal_data()):
        if contribution.erase is not None:
            contribution.erase(session, user)
    record(session, "account.erased", target_user=user)
    session.flush()
    session.expire_all()


def is_erased(user) -> bool:
    return user is not None and user.erased_at is not None
