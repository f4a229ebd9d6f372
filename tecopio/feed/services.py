"""The group's feed, written by the events of offers, bids, decisions, deals and answers.

Entries hold what they are about, never words: the reader's language writes
them. Companies' answers are plain text, kept as typed and shown escaped.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from tecopio import events
from tecopio.accounts.models import User
from tecopio.audit.services import record
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
from tecopio.partners.models import PartnerCompany
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
    try:
        body = clean_paragraphs(body, max_length=ANSWER_MAX)
    except InvalidText as error:
        raise AnswerError(error.message) from error
    if not body:
        raise AnswerError(_l("Write the answer."))
    reply = CompanyAnswer(
        group_id=offer.group_id, partner=partner, offer=offer, body=body, author_id=user.id
    )
    session.add(reply)
    session.flush()
    record(
        session,
        "company.answered",
        actor=user,
        group=offer.group,
        number=offer.number,
        company=partner.name,
    )
    events.company_answered.send(reply, session=session)
    return reply


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
