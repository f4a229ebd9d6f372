"""The group's feed, written by the events of offers, bids, decisions, deals and answers.

Entries hold what they are about, never words: the reader's language writes
them. Companies' answers are plain text, kept as typed and shown escaped.
"""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from tecopio import events, jobs
from tecopio.accounts.models import User
from tecopio.analytics.company import (
    CompanyFeedbackRelease,
    feedback_release_due,
    latest_feedback_release,
    release_company_feedback,
)
from tecopio.audit.services import record
from tecopio.categories.services import load_tree
from tecopio.db import utcnow
from tecopio.demand.models import (
    Bid,
    BidStatus,
    Deal,
    DealStatus,
    DemandOffer,
    OfferInvitation,
    OfferStatus,
)
from tecopio.directory.models import Company
from tecopio.feed.models import CompanyAnswer, FeedEntry, FeedKind
from tecopio.governance.charters import GovernanceError
from tecopio.groups.models import Group, Membership, MembershipStatus
from tecopio.partners.models import CompanyStaff, PartnerCompany, StaffStatus
from tecopio.text import InvalidText, clean_paragraphs

ANSWER_MAX = 2000
PER_PAGE = 20


class AnswerError(GovernanceError):
    message = _l("The answer could not be saved.")

    def __init__(self, message=None):
        super().__init__(str(message or self.message))
        if message is not None:
            self.message = message


class NotInvitedToAnswer(AnswerError):
    message = _l("A company answers only about offers it was invited to.")


class NotInvitedByGroup(AnswerError):
    message = _l("A company answers only groups that invited it to an offer.")


def _add(session: Session, group_id: int, kind: FeedKind, **about) -> None:
    session.add(FeedEntry(group_id=group_id, kind=kind, **about))
    session.flush()


def offer_published(offer: DemandOffer, *, session: Session) -> None:
    _add(session, offer.group_id, FeedKind.OFFER_PUBLISHED, offer_id=offer.id)


def offer_closed(offer: DemandOffer, *, session: Session) -> None:
    _add(session, offer.group_id, FeedKind.BIDDING_CLOSED, offer_id=offer.id)


def offer_decided(offer: DemandOffer, *, session: Session) -> None:
    kind = (
        FeedKind.OFFER_AWARDED
        if offer.status == OfferStatus.AWARDED
        else FeedKind.OFFER_NOT_AWARDED
    )
    _add(session, offer.group_id, kind, offer_id=offer.id)


def deal_tipped(deal: Deal, *, session: Session) -> None:
    _add(session, deal.group_id, FeedKind.DEAL_TIPPED, offer_id=deal.offer_id, deal_id=deal.id)


def deal_closed(deal: Deal, *, session: Session) -> None:
    if deal.status == DealStatus.FAILED:
        _add(session, deal.group_id, FeedKind.DEAL_FAILED, offer_id=deal.offer_id, deal_id=deal.id)


def _answer_text(body: str) -> str:
    try:
        body = clean_paragraphs(body, max_length=ANSWER_MAX)
    except InvalidText as error:
        raise AnswerError(error.message) from error
    if not body:
        raise AnswerError(_l("Write the answer."))
    return body


def _audit(session: Session, action: str, author: User, reply: CompanyAnswer, group, **details):
    """Save the answer, log it, and let the feed know."""
    session.add(reply)
    session.flush()
    record(
        session,
        action,
        actor=author,
        group=group,
        partner=reply.partner,
        offer=reply.offer,
        company=reply.partner.name,
        **details,
    )
    events.company_answered.send(reply, session=session)
    return reply


def answer(
    session: Session, user: User, partner: PartnerCompany, offer: DemandOffer, body: str
) -> CompanyAnswer:
    """The company's public answer within the group about an offer it was invited to."""
    invited = session.scalar(
        select(OfferInvitation.id).where(
            OfferInvitation.offer_id == offer.id, OfferInvitation.partner_id == partner.id
        )
    )
    if invited is None:
        raise NotInvitedToAnswer()
    reply = CompanyAnswer(
        group_id=offer.group_id,
        partner=partner,
        offer=offer,
        body=_answer_text(body),
        author_id=user.id,
    )
    return _audit(session, "company.answered", user, reply, offer.group, number=offer.number)


def inviting_groups(session: Session, partner: PartnerCompany) -> list[Group]:
    """The groups that invited the company to at least one offer, by name."""
    return list(
        session.scalars(
            select(Group)
            .where(
                Group.id.in_(
                    select(DemandOffer.group_id)
                    .join(OfferInvitation, OfferInvitation.offer_id == DemandOffer.id)
                    .where(OfferInvitation.partner_id == partner.id)
                )
            )
            .order_by(Group.name, Group.id)
        )
    )


def answer_feedback(
    session: Session, user: User, partner: PartnerCompany, group: Group, body: str
) -> CompanyAnswer:
    """The company's public answer, within a group that invited it, to the group's
    aggregated feedback about it."""
    if group not in inviting_groups(session, partner):
        raise NotInvitedByGroup()
    reply = CompanyAnswer(
        group_id=group.id, partner=partner, offer=None, body=_answer_text(body), author_id=user.id
    )
    return _audit(session, "company.answered_feedback", user, reply, group)


def feedback_answers(session: Session, partner: PartnerCompany) -> dict[int, list[CompanyAnswer]]:
    """The company's answers to each group's feedback, by group id, oldest first."""
    found: dict[int, list[CompanyAnswer]] = {}
    for reply in session.scalars(
        select(CompanyAnswer)
        .options(selectinload(CompanyAnswer.author))
        .where(CompanyAnswer.partner_id == partner.id, CompanyAnswer.offer_id.is_(None))
        .order_by(CompanyAnswer.created_at, CompanyAnswer.id)
    ):
        found.setdefault(reply.group_id, []).append(reply)
    return found


@dataclass
class FeedbackAbout:
    """What a group released of its members' feedback about one company."""

    group: Group
    k: int | None  # the company k it was released with; None: nothing released yet
    released_at: datetime | None
    row: dict | None  # the company's row; None: invited since the last release
    answers: list[CompanyAnswer]
    # Someone acting for the company is a member of the group: the figures are not shown.
    staff_in_group: bool = False

    @property
    def stars(self) -> list[dict]:
        return (self.row or {}).get("children", [])


def groups_with_staff(session: Session, partner: PartnerCompany, group_ids: list[int]) -> set:
    """The groups among ``group_ids`` one of the company's active staff is an active member of.

    Such a person reads the members' analytics page too, where the company's ratings
    count every member's (at the group's k), beside this page's (only those for
    companies, at the company k): the difference would tell of the few who keep their
    ratings from companies. So the company reads no figures of those groups meanwhile.
    """
    if not group_ids:
        return set()
    return set(
        session.scalars(
            select(Membership.group_id)
            .join(CompanyStaff, CompanyStaff.user_id == Membership.user_id)
            .where(
                CompanyStaff.partner_id == partner.id,
                CompanyStaff.status == StaffStatus.ACTIVE,
                Membership.status == MembershipStatus.ACTIVE,
                Membership.group_id.in_(group_ids),
            )
        )
    )


def feedback_about(session: Session, partner: PartnerCompany) -> list[FeedbackAbout]:
    """The latest feedback release of each group that invited the company: its row only."""
    groups = inviting_groups(session, partner)
    group_ids = [group.id for group in groups]
    releases = {
        release.group_id: release
        for release in session.scalars(
            select(CompanyFeedbackRelease).where(CompanyFeedbackRelease.group_id.in_(group_ids))
        )
    }
    answers = feedback_answers(session, partner)
    insiders = groups_with_staff(session, partner, group_ids)
    found = []
    for group in groups:
        release = releases.get(group.id)
        figures = release.figures if release is not None else {}
        inside = group.id in insiders
        found.append(
            FeedbackAbout(
                group=group,
                k=figures.get("k"),
                released_at=release.released_at if release is not None else None,
                row=None if inside else figures.get("companies", {}).get(str(partner.company_id)),
                answers=answers.get(group.id, []),
                staff_in_group=inside,
            )
        )
    return found


def _invited_companies(session: Session, group_id: int | None = None) -> dict[int, list[int]]:
    """The directory companies of the partner accounts each group invited, by group."""
    statement = (
        select(DemandOffer.group_id, PartnerCompany.company_id)
        .join(OfferInvitation, OfferInvitation.offer_id == DemandOffer.id)
        .join(PartnerCompany, PartnerCompany.id == OfferInvitation.partner_id)
        .distinct()
    )
    if group_id is not None:
        statement = statement.where(DemandOffer.group_id == group_id)
    listed: dict[int, set[int]] = {}
    for group, company_id in session.execute(statement):
        listed.setdefault(group, set()).add(company_id)
    return {group: sorted(companies) for group, companies in listed.items()}


def groups_due_for_feedback(session: Session, now: datetime) -> list[int]:
    """The groups that invited a company and whose feedback release is a day old or more."""
    group_ids = sorted(_invited_companies(session))
    releases = {
        release.group_id: release
        for release in session.scalars(
            select(CompanyFeedbackRelease).where(CompanyFeedbackRelease.group_id.in_(group_ids))
        )
    }
    return [group_id for group_id in group_ids if feedback_release_due(releases.get(group_id), now)]


def release_group_feedback(session: Session, group_id: int, now: datetime | None = None) -> bool:
    """Release one group's feedback about the companies it invited, if due (a job: one per
    group, each in its own transaction; idempotent). Whether the group was due."""
    now = now or utcnow()
    group = session.get(Group, group_id)
    listed = _invited_companies(session, group_id).get(group_id)
    if group is None or not listed:
        return False
    if not feedback_release_due(latest_feedback_release(session, group_id), now):
        return False
    release_company_feedback(session, group, load_tree(session), listed, now)
    return True


FEEDBACK_DUE_JOB = "feed.find_feedback_due"
FEEDBACK_JOB = "feed.release_group_feedback"


def queue_due_feedback(session: Session, now: datetime | None = None) -> int:
    """The hourly job: one ``release_group_feedback`` job per group whose feedback release
    is due, queued after this transaction commits. How many were queued."""
    due = groups_due_for_feedback(session, now or utcnow())
    for group_id in due:
        jobs.enqueue_after_commit(session, FEEDBACK_JOB, group_id)
    return len(due)


def release_due_feedback(session: Session, now: datetime | None = None) -> int:
    """Every due group's feedback release, in this transaction (the demo, the CLI, the
    tests); the workers run ``release_group_feedback`` one group at a time."""
    now = now or utcnow()
    return sum(
        release_group_feedback(session, group_id, now)
        for group_id in groups_due_for_feedback(session, now)
    )


def company_answered(reply: CompanyAnswer, *, session: Session) -> None:
    _add(
        session,
        reply.group_id,
        FeedKind.COMPANY_ANSWER,
        offer_id=reply.offer_id,
        answer_id=reply.id,
    )


def answers_on(session: Session, offer: DemandOffer) -> list[CompanyAnswer]:
    return list(
        session.scalars(
            select(CompanyAnswer)
            .options(selectinload(CompanyAnswer.partner).selectinload(PartnerCompany.company))
            .where(CompanyAnswer.offer_id == offer.id)
            .order_by(CompanyAnswer.created_at, CompanyAnswer.id)
        )
    )


def feed_page(session: Session, group, page: int = 1) -> tuple[list[FeedEntry], int]:
    """A page of the group's feed, newest first, and how many entries it has."""
    total = session.scalar(
        select(func.count()).select_from(FeedEntry).where(FeedEntry.group_id == group.id)
    )
    entries = session.scalars(
        select(FeedEntry)
        .options(
            selectinload(FeedEntry.offer),
            selectinload(FeedEntry.deal)
            .selectinload(Deal.partner)
            .selectinload(PartnerCompany.company),
            selectinload(FeedEntry.answer)
            .selectinload(CompanyAnswer.partner)
            .selectinload(PartnerCompany.company),
        )
        .where(FeedEntry.group_id == group.id)
        .order_by(FeedEntry.created_at.desc(), FeedEntry.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).all()
    return list(entries), total


def bid_counts(session: Session, offer_ids: list[int]) -> dict[int, int]:
    """Standing bids per offer, for the "bidding closed" lines (one query)."""
    if not offer_ids:
        return {}
    rows = session.execute(
        select(Bid.offer_id, func.count())
        .where(Bid.offer_id.in_(offer_ids), Bid.status == BidStatus.SUBMITTED)
        .group_by(Bid.offer_id)
    )
    return dict(rows.all())


def awarded_names(session: Session, offer_ids: list[int]) -> dict[int, str]:
    if not offer_ids:
        return {}
    rows = session.execute(
        select(DemandOffer.id, Company.name)
        .join(PartnerCompany, PartnerCompany.id == DemandOffer.awarded_partner_id)
        .join(Company, Company.id == PartnerCompany.company_id)
        .where(DemandOffer.id.in_(offer_ids))
    )
    return dict(rows.all())


def export_answers(session: Session, user: User) -> list[dict]:
    """Answers she wrote for a company (the answer is the company's)."""
    found = session.scalars(
        select(CompanyAnswer)
        .options(selectinload(CompanyAnswer.partner).selectinload(PartnerCompany.company))
        .where(CompanyAnswer.author_id == user.id)
        .order_by(CompanyAnswer.id)
    )
    return [
        {
            "id": reply.id,
            "company": reply.partner.name,
            "body": reply.body,
            "created_at": reply.created_at.isoformat(),
        }
        for reply in found
    ]


def unname_answers(session: Session, user: User) -> None:
    session.execute(
        update(CompanyAnswer).where(CompanyAnswer.author_id == user.id).values(author_id=None)
    )
