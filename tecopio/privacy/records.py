"""A member's complete record: the "my data" page, the export, and erasure."""

import csv
import io
import json
import secrets
import zipfile
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.analytics.cache import AnalyticsSnapshot
from tecopio.audit.models import AuditEvent
from tecopio.audit.services import record
from tecopio.db import utcnow
from tecopio.directory.models import Company
from tecopio.governance.models import Proposal, ProposalComment, Vote
from tecopio.groups.models import Group, Invitation, Membership, MembershipStatus, Role
from tecopio.memberdata.models import Feedback, Intent, Preference, Stance
from tecopio.memberdata.services import feedback_of, intents_of, preferences_of
from tecopio.notifications.models import Notification
from tecopio.privacy.models import Consent, ConsentEvent
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
        .where(AuditEvent.target_user_id == user.id)
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


def _iso(value):
    return value.isoformat() if value is not None else None


def export_data(session: Session, user: User) -> dict:
    """Everything Tecopio holds about the member, as plain JSON-ready data."""
    data = member_record(session, user, activity_limit=None)
    categories = {}

    def slug(category):
        if category is None:
            return None
        categories[category.id] = category.slug
        return category.slug

    return {
        "exported_at": _iso(utcnow()),
        "account": {
            "email": user.email,
            "display_name": user.display_name,
            "locale": user.locale,
            "region": user.region,
            "email_notifications": user.email_notifications,
            "created_at": _iso(user.created_at),
        },
        "memberships": [
            {
                "group": m.group.name,
                "group_slug": m.group.slug,
                "role": m.role.value,
                "status": m.status.value,
                "since": _iso(m.created_at),
            }
            for m in data.memberships
        ],
        "preferences": [
            {
                "id": p.id,
                "category": slug(p.category),
                "importance": p.importance,
                "values": list(p.values),
                "liked": [c.name for c in p.companies_with(Stance.LIKE)],
                "avoided": [c.name for c in p.companies_with(Stance.AVOID)],
                "note": p.note,
                "created_at": _iso(p.created_at),
                "updated_at": _iso(p.updated_at),
            }
            for p in data.preferences
        ],
        "intents": [
            {
                "id": i.id,
                "category": slug(i.category),
                "description": i.description,
                "quantity": i.quantity,
                "unit": i.unit,
                "budget_min_minor_units": i.budget_min,
                "budget_max_minor_units": i.budget_max,
                "currency": i.currency,
                "window_start": i.window_start.isoformat(),
                "window_end": i.window_end.isoformat(),
                "status": i.status.value,
                "created_at": _iso(i.created_at),
                "updated_at": _iso(i.updated_at),
            }
            for i in data.intents
        ],
        "feedback": [
            {
                "id": f.id,
                "company": f.company.name,
                "category": slug(f.category),
                "rating": f.rating,
                "text": f.body,
                "visibility": f.visibility.value,
                "created_at": _iso(f.created_at),
                "updated_at": _iso(f.updated_at),
            }
            for f in data.feedback
        ],
        "consents": [
            {
                "group": c.group.name,
                "category": slug(c.category),
                "granted": c.granted,
                "updated_at": _iso(c.updated_at),
            }
            for c in data.consents
        ],
        "invitations": [
            {
                "group": i.group.name,
                "status": i.status.value,
                "sent_at": _iso(i.created_at),
                "expires_at": _iso(i.expires_at),
            }
            for i in data.invitations
        ],
        "consent_history": [
            {
                "group": e.group.name,
                "category": slug(e.category),
                "granted": e.granted,
                "at": _iso(e.created_at),
            }
            for e in data.consent_history
        ],
        "companies_added": [{"name": c.name, "website": c.website} for c in data.companies_added],
        **_decisions_of(session, user),
        "activity": [
            {
                "at": _iso(e.created_at),
                "action": e.action,
                "group": e.group.name if e.group else None,
                "details": e.details,
            }
            for e in data.activity
        ],
    }


def _decisions_of(session: Session, user: User) -> dict:
    """The member's part in their groups' decisions: proposals, votes, comments."""
    proposals = session.scalars(
        select(Proposal)
        .where(Proposal.author_id == user.id)
        .options(joinedload(Proposal.group))
        .order_by(Proposal.id)
    ).all()
    votes = session.execute(
        select(Vote, Proposal)
        .join(Proposal, Proposal.id == Vote.proposal_id)
        .where(Vote.user_id == user.id)
        .order_by(Vote.id)
    ).all()
    comments = session.execute(
        select(ProposalComment, Proposal)
        .join(Proposal, Proposal.id == ProposalComment.proposal_id)
        .where(ProposalComment.author_id == user.id)
        .order_by(ProposalComment.id)
    ).all()
    return {
        "proposals": [
            {
                "group": p.group.name,
                "title": p.title,
                "description": p.description,
                "status": p.status.value,
                "opened_at": _iso(p.opens_at),
            }
            for p in proposals
        ],
        "votes": [
            {"proposal": p.title, "choice": v.choice.value, "at": _iso(v.updated_at)}
            for v, p in votes
        ],
        "comments": [
            {"proposal": p.title, "text": c.body, "at": _iso(c.created_at)} for c, p in comments
        ],
    }


def _forget_in_admissions(session: Session, user: User) -> None:
    """Decisions on the person's requests to join stay, without their name."""
    memberships = set(session.scalars(select(Membership.id).where(Membership.user_id == user.id)))
    admissions = session.scalars(select(Proposal).where(Proposal.kind == "admission"))
    for proposal in admissions:
        if proposal.payload.get("membership_id") in memberships:
            proposal.payload = {**proposal.payload, "name": ""}
            proposal.title = str(_l("Request to join of a former member"))


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


def export_zip(data: dict) -> bytes:
    """data.json with everything, and one CSV per list for spreadsheets."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2))
        archive.writestr("account.csv", _csv([data["account"]]))
        for section, rows in data.items():
            if isinstance(rows, list):
                archive.writestr(f"{section}.csv", _csv(rows))
    return buffer.getvalue()


# --- erasure ---------------------------------------------------------------------


# Audit actions that describe the member's own data rather than a group's history.
OWN_ACTIVITY = ("preference.", "intent.", "feedback.", "consent.", "data.", "platform.")


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

    Deleted: email, name, password, preferences, intents, feedback, consents and
    their history, invitations to the address, votes, comments and
    notifications. Kept, without anything that
    identifies the person: the account's number (so group audit logs, and later
    votes and the ledger, stay consistent), memberships marked as left, and the
    directory entries they added.
    """
    blocking = groups_blocking_erasure(session, user, lock=True)
    if blocking:
        raise ErasureBlocked(blocking)
    email = user.email
    # Marked first: the database lets consent history go only for erased accounts.
    user.erased_at = utcnow()
    session.flush()
    session.execute(delete(Preference).where(Preference.user_id == user.id))
    session.execute(delete(Intent).where(Intent.user_id == user.id))
    session.execute(delete(Feedback).where(Feedback.user_id == user.id))
    session.execute(delete(Consent).where(Consent.user_id == user.id))
    session.execute(delete(ConsentEvent).where(ConsentEvent.user_id == user.id))
    session.execute(delete(Invitation).where(Invitation.email == email))
    # Votes and comments are the member's own; proposals stay as the group's record
    # of its decisions, without their author.
    session.execute(delete(Vote).where(Vote.user_id == user.id))
    session.execute(delete(ProposalComment).where(ProposalComment.author_id == user.id))
    session.execute(delete(Notification).where(Notification.user_id == user.id))
    session.execute(update(Proposal).where(Proposal.author_id == user.id).values(author_id=None))
    _forget_in_admissions(session, user)
    # Stored analytics may still hold figures the person was part of: computed afresh.
    session.execute(delete(AnalyticsSnapshot))
    session.execute(
        update(Membership)
        .where(
            Membership.user_id == user.id,
            Membership.status.in_([MembershipStatus.ACTIVE, MembershipStatus.PENDING]),
        )
        .values(status=MembershipStatus.LEFT, role=Role.MEMBER, updated_at=utcnow())
    )
    # The member's own activity (what they recorded, shared, imported) goes with it.
    session.execute(
        delete(AuditEvent).where(
            AuditEvent.target_user_id == user.id,
            or_(*(AuditEvent.action.startswith(prefix) for prefix in OWN_ACTIVITY)),
        )
    )
    # Admins' invitations named the address in the group's audit log. JSON may
    # store it escaped (non-ASCII addresses), so both spellings are searched.
    escaped = json.dumps(email)[1:-1]
    text = cast(AuditEvent.details, String)
    for event in session.scalars(
        select(AuditEvent).where(or_(text.contains(email), text.contains(escaped)))
    ):
        event.details = {
            key: ("erased" if value == email else value) for key, value in event.details.items()
        }
    user.email = f"erased-{user.id}@erased.invalid"
    user.display_name = ""
    user.password_hash = "!" + secrets.token_hex(16)
    user.locale = None
    user.region = None
    user.region_key = None
    user.region_changed_at = utcnow()
    user.is_platform_admin = False
    user.session_version += 1
    record(session, "account.erased", target_user=user)
    session.flush()
    session.expire_all()


def is_erased(user) -> bool:
    return user is not None and user.erased_at is not None
