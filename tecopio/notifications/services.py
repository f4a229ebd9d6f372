"""Telling people what waits on them: in the app always, by email when they opted in.

Votes that open or close soon, requests to join (to admins), the answer to
one's request, a removal, an invitation to a person who has an account, and to
a company's staff, an offer a group invites the company to bid on.
Notifications are rows written in the same transaction as what they tell
about (the handlers of ``tecopio.events``); emails are sent from them later
(``flask notifications send``, and the jobs worker), each in its reader's
language, so that a slow or failing mail server never holds up a vote, and a
message is sent once. Acting on what a notice is about (voting, answering the
request or the invitation) marks it read: the badge counts only what still
waits.
"""

from datetime import datetime, timedelta

from flask_babel import force_locale
from sqlalchemy import and_, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session, aliased, joinedload

from tecopio import jobs
from tecopio.accounts.models import User
from tecopio.db import utcnow
from tecopio.demand import deals
from tecopio.demand.models import DealStatus, DemandOffer, OfferInvitation, OfferStatus
from tecopio.governance.charters import electorate
from tecopio.governance.models import Proposal, ProposalStatus, Vote
from tecopio.groups.models import Invitation, InvitationStatus, Membership, MembershipStatus, Role
from tecopio.mail import MailError, send_mail
from tecopio.notifications import texts
from tecopio.notifications.models import (
    COMPANY_KINDS,
    DEAL_KINDS,
    PROPOSAL_KINDS,
    Notification,
    NotificationKind,
)
from tecopio.partners.models import CompanyStaff, PartnerCompany, StaffStatus

REMIND_BEFORE = timedelta(days=1)
SEND_JOB = "notifications.send"  # emails the notifications of members who asked (``jobs.py``)


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


def _tell(session: Session, user_id: int, kind: NotificationKind, about, **values) -> None:
    """One notice to one person about a membership or an invitation (``about``)."""
    field = "invitation_id" if isinstance(about, Invitation) else "membership_id"
    notification = Notification(
        user_id=user_id, group_id=about.group_id, kind=kind, **{field: about.id}, **values
    )
    session.add(notification)
    session.flush()
    if notification.emailed_at is None:
        jobs.enqueue_after_commit(session, SEND_JOB)


def _mark_read(session: Session, *conditions) -> None:
    session.execute(
        update(Notification)
        .where(Notification.read_at.is_(None), *conditions)
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def join_requested(membership: Membership, *, session: Session) -> int:
    """``join_requested``: each admin of the group is told someone asks to join."""
    admins = session.scalars(
        select(Membership.user_id).where(
            Membership.group_id == membership.group_id,
            Membership.status == MembershipStatus.ACTIVE,
            Membership.role == Role.ADMIN,
        )
    ).all()
    for admin_id in admins:
        _tell(session, admin_id, NotificationKind.JOIN_REQUESTED, membership)
    return len(admins)


ANSWERS = {
    "approved": NotificationKind.JOIN_APPROVED,
    "declined": NotificationKind.JOIN_DECLINED,
}


def join_request_closed(membership: Membership, *, session: Session, outcome: str) -> None:
    """``join_request_closed``: no admin is asked any more; the applicant hears the answer."""
    _mark_read(
        session,
        Notification.membership_id == membership.id,
        Notification.kind == NotificationKind.JOIN_REQUESTED,
    )
    if outcome in ANSWERS:
        _tell(session, membership.user_id, ANSWERS[outcome], membership)


def member_removed(membership: Membership, *, session: Session) -> None:
    """``member_removed``: the person removed is told, rather than finding out."""
    _tell(session, membership.user_id, NotificationKind.MEMBER_REMOVED, membership)


def invitation_sent(invitation: Invitation, *, session: Session) -> None:
    """``invitation_sent``: a person who has an account with the address sees it in the app.

    The invitation email itself went out already, so this notice is never
    emailed; a renewed invitation does not add a second unread notice.
    """
    invitee = session.scalar(
        select(User.id).where(User.email == invitation.email, User.erased_at.is_(None))
    )
    if invitee is None:
        return
    unread = session.scalar(
        select(Notification.id).where(
            Notification.user_id == invitee,
            Notification.invitation_id == invitation.id,
            Notification.read_at.is_(None),
        )
    )
    if unread is None:
        now = utcnow()
        _tell(
            session, invitee, NotificationKind.INVITED, invitation, created_at=now, emailed_at=now
        )


def offer_invitation_sent(invitation: OfferInvitation, *, session: Session) -> None:
    """``offer_invitation_sent``: everyone acting for the company is told, in the app and,
    if they opted in, by email."""
    staff = session.scalars(
        select(CompanyStaff.user_id).where(
            CompanyStaff.partner_id == invitation.partner_id,
            CompanyStaff.status == StaffStatus.ACTIVE,
        )
    ).all()
    for user_id in staff:
        session.add(
            Notification(
                user_id=user_id,
                group_id=invitation.offer.group_id,
                kind=NotificationKind.OFFER_INVITED,
                offer_invitation_id=invitation.id,
            )
        )
    session.flush()
    if staff:
        jobs.enqueue_after_commit(session, SEND_JOB)


def offer_decided(offer: DemandOffer, *, session: Session) -> None:
    """``offer_decided``: every company invited to the offer is told the group's choice."""
    rows = session.execute(
        select(CompanyStaff.user_id, OfferInvitation.id)
        .join(OfferInvitation, OfferInvitation.partner_id == CompanyStaff.partner_id)
        .where(OfferInvitation.offer_id == offer.id, CompanyStaff.status == StaffStatus.ACTIVE)
    ).all()
    for user_id, invitation_id in rows:
        session.add(
            Notification(
                user_id=user_id,
                group_id=offer.group_id,
                kind=NotificationKind.OFFER_DECIDED,
                offer_invitation_id=invitation_id,
            )
        )
    session.flush()
    if rows:
        jobs.enqueue_after_commit(session, SEND_JOB)


def _tell_members(session: Session, deal, user_ids, kind: NotificationKind) -> None:
    for user_id in dict.fromkeys(user_ids):
        session.add(
            Notification(user_id=user_id, group_id=deal.group_id, kind=kind, deal_id=deal.id)
        )


def _tell_company(session: Session, deal, kind: NotificationKind) -> int:
    rows = session.execute(
        select(CompanyStaff.user_id, OfferInvitation.id)
        .join(OfferInvitation, OfferInvitation.partner_id == CompanyStaff.partner_id)
        .where(
            OfferInvitation.offer_id == deal.offer_id,
            OfferInvitation.partner_id == deal.partner_id,
            CompanyStaff.status == StaffStatus.ACTIVE,
        )
    ).all()
    for user_id, invitation_id in rows:
        session.add(
            Notification(
                user_id=user_id,
                group_id=deal.group_id,
                kind=kind,
                offer_invitation_id=invitation_id,
                deal_id=deal.id,
            )
        )
    return len(rows)


def deal_opened(deal, *, session: Session) -> None:
    """``deal_opened``: members whose open intents match are told they may commit."""
    owners = deals.matching_intent_owners(session, deal)
    _tell_members(session, deal, owners, NotificationKind.DEAL_OPENED)
    session.flush()
    if owners:
        jobs.enqueue_after_commit(session, SEND_JOB)


def deal_tipped(deal, *, session: Session) -> None:
    """``deal_tipped``: the members whose commitments count, and the company, are told."""
    keys = deals.count_of(session, deal).keys
    members = [c.user_id for c in deals.active_commitments(session, deal) if c.id in keys]
    _tell_members(session, deal, members, NotificationKind.DEAL_TIPPED)
    _tell_company(session, deal, NotificationKind.DEAL_TIPPED_COMPANY)
    session.flush()
    jobs.enqueue_after_commit(session, SEND_JOB)


def deal_closed(deal, *, session: Session) -> None:
    """``deal_closed``: a deal that failed is news for who committed and for the company
    (one that completed was news when it tipped)."""
    if deal.status != DealStatus.FAILED:
        return
    members = [c.user_id for c in deals.active_commitments(session, deal)]
    _tell_members(session, deal, members, NotificationKind.DEAL_FAILED)
    _tell_company(session, deal, NotificationKind.DEAL_FAILED_COMPANY)
    session.flush()
    jobs.enqueue_after_commit(session, SEND_JOB)


def _still_staff(user: User):
    """A company's notice is shown only to who still acts for the company."""
    return (
        select(CompanyStaff.id)
        .join(OfferInvitation, OfferInvitation.partner_id == CompanyStaff.partner_id)
        .where(
            OfferInvitation.id == Notification.offer_invitation_id,
            CompanyStaff.user_id == user.id,
            CompanyStaff.status == StaffStatus.ACTIVE,
        )
        .exists()
    )


def invitation_closed(invitation: Invitation, *, session: Session) -> None:
    """``invitation_closed``: answered or withdrawn, the invitation waits on no one."""
    _mark_read(session, Notification.invitation_id == invitation.id)


def vote_cast(proposal: Proposal, *, session: Session, user: User) -> None:
    """``vote_cast``: the voter's notices of this vote are done with."""
    _mark_read(session, Notification.user_id == user.id, Notification.proposal_id == proposal.id)


def _still_an_admin(user: User):
    """A request to join is shown only to who is still an admin of its group: it names an
    applicant still waiting, whom members who are not admins do not see where admins admit."""
    admin = aliased(Membership)
    return (
        select(admin.id)
        .where(
            admin.user_id == user.id,
            admin.group_id == Notification.group_id,
            admin.status == MembershipStatus.ACTIVE,
            admin.role == Role.ADMIN,
        )
        .exists()
    )


def _visible_to(user: User):
    return and_(
        Notification.user_id == user.id,
        or_(Notification.kind != NotificationKind.JOIN_REQUESTED, _still_an_admin(user)),
        or_(Notification.kind.not_in(list(COMPANY_KINDS)), _still_staff(user)),
    )


def _still_waits(now: datetime):
    """What the badge counts: notices whose item still asks something of the person.

    A vote that closed, a request answered or withdrawn, an invitation answered,
    withdrawn or expired no longer wait, read or not; answers and removals are
    news until read.
    """
    applicant = aliased(Membership)
    return or_(
        and_(
            Notification.kind.in_(list(PROPOSAL_KINDS)),
            select(Proposal.id)
            .where(
                Proposal.id == Notification.proposal_id,
                Proposal.status == ProposalStatus.OPEN,
                Proposal.closes_at > now,
            )
            .exists(),
        ),
        and_(
            Notification.kind == NotificationKind.JOIN_REQUESTED,
            select(applicant.id)
            .where(
                applicant.id == Notification.membership_id,
                applicant.status == MembershipStatus.PENDING,
            )
            .exists(),
        ),
        and_(
            Notification.kind == NotificationKind.INVITED,
            select(Invitation.id)
            .where(
                Invitation.id == Notification.invitation_id,
                Invitation.status == InvitationStatus.PENDING,
                Invitation.expires_at > now,
            )
            .exists(),
        ),
        and_(
            Notification.kind == NotificationKind.OFFER_INVITED,
            select(DemandOffer.id)
            .join(OfferInvitation, OfferInvitation.offer_id == DemandOffer.id)
            .where(
                OfferInvitation.id == Notification.offer_invitation_id,
                DemandOffer.status == OfferStatus.PUBLISHED,
                DemandOffer.bid_deadline > now,
            )
            .exists(),
        ),
        Notification.kind.in_(
            [
                NotificationKind.JOIN_APPROVED,
                NotificationKind.JOIN_DECLINED,
                NotificationKind.MEMBER_REMOVED,
                NotificationKind.OFFER_DECIDED,
                *DEAL_KINDS,
                NotificationKind.DEAL_TIPPED_COMPANY,
                NotificationKind.DEAL_FAILED_COMPANY,
            ]
        ),
    )


def unread_count(session: Session, user: User, now: datetime | None = None) -> int:
    return session.scalar(
        select(func.count(Notification.id)).where(
            _visible_to(user), Notification.read_at.is_(None), _still_waits(now or utcnow())
        )
    )


def notifications_of(session: Session, user: User, limit: int = 50) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(_visible_to(user))
            .options(
                joinedload(Notification.group),
                joinedload(Notification.proposal),
                joinedload(Notification.membership).joinedload(Membership.user),
                joinedload(Notification.invitation),
                joinedload(Notification.offer_invitation)
                .joinedload(OfferInvitation.partner)
                .joinedload(PartnerCompany.company),
            )
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
    """Worth an email now: not acted on in the app, and what it asks is still to be done.

    A vote is still open, the person a member and not yet voted on it; a
    request to join still waits, for someone still an admin. An answer or a
    removal is always news.
    """
    if notification.read_at is not None:
        return False
    if notification.kind == NotificationKind.JOIN_REQUESTED:
        admin = session.scalar(
            select(Membership.id).where(
                Membership.user_id == notification.user_id,
                Membership.group_id == notification.group_id,
                Membership.status == MembershipStatus.ACTIVE,
                Membership.role == Role.ADMIN,
            )
        )
        return admin is not None and notification.membership.status == MembershipStatus.PENDING
    if notification.kind == NotificationKind.INVITED:
        return notification.invitation.status == InvitationStatus.PENDING
    if notification.kind in COMPANY_KINDS:
        staff = session.scalar(
            select(CompanyStaff.id).where(
                CompanyStaff.user_id == notification.user_id,
                CompanyStaff.partner_id == notification.offer_invitation.partner_id,
                CompanyStaff.status == StaffStatus.ACTIVE,
            )
        )
        if notification.kind != NotificationKind.OFFER_INVITED:
            return staff is not None
        return staff is not None and notification.offer_invitation.offer.is_open_for_bids(utcnow())
    if notification.kind not in PROPOSAL_KINDS:
        return True
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
            joinedload(Notification.membership),
            joinedload(Notification.invitation),
        )
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    sent = 0
    for notification in pending:
        user = session.get(User, notification.user_id)
        if not _still_news(session, notification):
            notification.emailed_at = utcnow()  # handled: nothing to tell any more
            session.commit()
            continue
        with force_locale(user.locale or "en"):
            try:
                send_mail(
                    user.email,
                    texts.subject(notification),
                    "notice",
                    user=user,
                    notification=notification,
                    text=texts.text(notification),
                    url=texts.link(notification, external=True),
                )
            except MailError:
                session.rollback()
                break
        notification.emailed_at = utcnow()
        session.commit()
        sent += 1
    return sent
