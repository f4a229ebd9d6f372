"""Telling members about their groups' votes: in the app always, by email when they opted in.

Notifications are rows written in the same transaction as what they tell
about; emails are sent from them later (``flask notifications send``, for a
scheduler), each in its reader's language, so that a slow or failing mail
server never holds up a vote, and a message is sent once.
"""

from datetime import datetime, timedelta

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, insert, literal, select, update
from sqlalchemy.orm import Session, joinedload

from tecopio import jobs
from tecopio.accounts.models import User
from tecopio.db import utcnow
from tecopio.governance.charters import electorate
from tecopio.governance.models import Proposal, ProposalStatus, Vote
from tecopio.groups.models import Membership, MembershipStatus
from tecopio.mail import MailError, send_mail
from tecopio.notifications.models import Notification, NotificationKind
from tecopio.views import public_url

REMIND_BEFORE = timedelta(days=1)
SEND_JOB = "notifications.send"  # emails the notifications of members who asked (``jobs.py``)
SUBJECTS = {
    NotificationKind.PROPOSAL_OPENED: _l("A vote has opened in %(group)s"),
    NotificationKind.PROPOSAL_CLOSING: _l("A vote in %(group)s closes in a day"),
}


def _voters(proposal: Proposal):
    """Members who may vote on the proposal."""
    return select(Membership.user_id).where(*electorate(proposal.group_id, proposal.opens_at))


def _notify(session: Session, proposal: Proposal, kind: NotificationKind, recipients) -> int:
    """One notification per recipient, in one statement (a group may have many members)."""
    rows = recipients.add_columns(
        literal(proposal.group_id), literal(proposal.id), literal(kind.value), literal(utcnow())
    )
    count = session.scalar(select(func.count()).select_from(recipients.subquery()))
    session.execute(
        insert(Notification).from_select(
            ["user_id", "group_id", "proposal_id", "kind", "created_at"], rows
        )
    )
    if count:
        jobs.enqueue_after_commit(session, SEND_JOB)
    return count


def proposal_opened(proposal: Proposal, *, session: Session) -> int:
    """``proposal_opened``: tell every member who may vote, but its author, that it is open."""
    recipients = _voters(proposal)
    if proposal.author_id is not None:
        recipients = recipients.where(Membership.user_id != proposal.author_id)
    return _notify(session, proposal, NotificationKind.PROPOSAL_OPENED, recipients)


def remind_closing(session: Session, now: datetime | None = None) -> int:
    """A day before each open proposal closes, remind the members who have not voted yet."""
    now = now or utcnow()
    due = session.scalars(
        select(Proposal)
        .where(
            Proposal.status == ProposalStatus.OPEN,
            Proposal.reminded_at.is_(None),
            Proposal.closes_at > now,
            Proposal.closes_at <= now + REMIND_BEFORE,
        )
        .with_for_update(skip_locked=True)
    ).all()
    reminded = 0
    for proposal in due:
        proposal.reminded_at = now
        if proposal.closes_at - proposal.opens_at <= REMIND_BEFORE:
            continue  # a one-day vote: its opening notice said it closes within a day
        voted = select(Vote.user_id).where(Vote.proposal_id == proposal.id)
        recipients = _voters(proposal).where(Membership.user_id.not_in(voted))
        reminded += _notify(session, proposal, NotificationKind.PROPOSAL_CLOSING, recipients)
    session.flush()
    return reminded


def unread_count(session: Session, user: User) -> int:
    return session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    )


def notifications_of(session: Session, user: User, limit: int = 50) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .options(joinedload(Notification.group), joinedload(Notification.proposal))
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def mark_all_read(session: Session, user: User) -> None:
    session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )


def _still_news(session: Session, notification: Notification) -> bool:
    """Worth an email now: the vote is open, the person a member, and not yet voted on it."""
    proposal = notification.proposal
    if proposal.status != ProposalStatus.OPEN:
        return False
    member = session.scalar(
        select(Membership.id).where(
            Membership.user_id == notification.user_id,
            Membership.group_id == proposal.group_id,
            Membership.status == MembershipStatus.ACTIVE,
        )
    )
    if member is None:
        return False
    if notification.kind == NotificationKind.PROPOSAL_CLOSING:
        voted = session.scalar(
            select(Vote.id).where(
                Vote.proposal_id == proposal.id, Vote.user_id == notification.user_id
            )
        )
        return voted is None
    return True


def send_pending_emails(session: Session, limit: int = 500) -> int:
    """Email the notifications of members who opted in; each is sent once, then marked.

    Each message is committed as sent before the next, so a mail server
    failing halfway leaves the rest for the next run and resends nothing.
    Notices that are no longer news (the vote closed, the person left, or
    voted after the reminder was written) are marked handled, not sent.
    """
    pending = session.scalars(
        select(Notification)
        .join(User, User.id == Notification.user_id)
        .where(
            and_(
                Notification.emailed_at.is_(None),
                User.email_notifications.is_(True),
                User.erased_at.is_(None),
            )
        )
        .options(
            joinedload(Notification.group),
            joinedload(Notification.proposal),
        )
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    sent = 0
    for notification in pending:
        user = session.get(User, notification.user_id)
        proposal = notification.proposal
        if not _still_news(session, notification):
            notification.emailed_at = utcnow()  # handled: nothing to tell any more
            session.commit()
            continue
        url = public_url(
            "governance.proposal", slug=notification.group.slug, number=proposal.number
        )
        with force_locale(user.locale or "en"):
            subject = str(SUBJECTS[notification.kind] % {"group": notification.group.name})
            try:
                send_mail(
                    user.email,
                    subject,
                    "proposal_notice",
                    user=user,
                    notification=notification,
                    proposal=proposal,
                    group=notification.group,
                    url=url,
                )
            except MailError:
                session.rollback()
                break
        notification.emailed_at = utcnow()
        session.commit()
        sent += 1
    return sent
