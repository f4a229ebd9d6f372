"""Offers' part in a person's export and erasure (``tecopio/privacy/registry.py``)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.demand.models import Bid, BidScore, Commitment, Deal, DemandOffer, OfferInvitation
from tecopio.partners.models import PartnerCompany
from tecopio.privacy.registry import iso, register_personal_data


def export_offers(session: Session, user: User) -> list[dict]:
    offers = session.scalars(
        select(DemandOffer)
        .options(joinedload(DemandOffer.group))
        .where(DemandOffer.created_by_id == user.id)
        .order_by(DemandOffer.id)
    )
    return [
        {
            "id": offer.id,
            "group": offer.group.name,
            "number": offer.number,
            "title": offer.title,
            "status": offer.status.value,
            "created_at": iso(offer.created_at),
        }
        for offer in offers
    ]


def export_offer_invitations(session: Session, user: User) -> list[dict]:
    invitations = session.scalars(
        select(OfferInvitation)
        .options(
            joinedload(OfferInvitation.offer).joinedload(DemandOffer.group),
            joinedload(OfferInvitation.partner).joinedload(PartnerCompany.company),
        )
        .where(OfferInvitation.invited_by_id == user.id)
        .order_by(OfferInvitation.id)
    )
    return [
        {
            "id": invitation.id,
            "group": invitation.offer.group.name,
            "offer": invitation.offer.number,
            "company": invitation.partner.name,
            "created_at": iso(invitation.created_at),
        }
        for invitation in invitations
    ]


def export_bids(session: Session, user: User) -> list[dict]:
    """Bids she last submitted or changed for a company (the bid is the company's)."""
    found = session.scalars(
        select(Bid)
        .options(
            joinedload(Bid.offer).joinedload(DemandOffer.group),
            joinedload(Bid.partner).joinedload(PartnerCompany.company),
        )
        .where(Bid.submitted_by_id == user.id)
        .order_by(Bid.id)
    )
    return [
        {
            "id": bid.id,
            "company": bid.partner.name,
            "group": bid.offer.group.name,
            "offer": bid.offer.number,
            "status": bid.status.value,
            "updated_at": iso(bid.updated_at),
        }
        for bid in found
    ]


def export_bid_scores(session: Session, user: User) -> list[dict]:
    found = session.scalars(
        select(BidScore)
        .options(
            joinedload(BidScore.bid).joinedload(Bid.partner).joinedload(PartnerCompany.company)
        )
        .where(BidScore.scored_by_id == user.id)
        .order_by(BidScore.id)
    )
    return [
        {
            "id": score.id,
            "company": score.bid.partner.name,
            "criterion": score.criterion,
            "score": score.score,
            "scored_at": iso(score.scored_at),
        }
        for score in found
    ]


def export_commitments(session: Session, user: User) -> list[dict]:
    found = session.scalars(
        select(Commitment)
        .options(joinedload(Commitment.deal).joinedload(Deal.offer).joinedload(DemandOffer.group))
        .where(Commitment.user_id == user.id)
        .order_by(Commitment.id)
    )
    return [
        {
            "id": commitment.id,
            "group": commitment.deal.offer.group.name,
            "offer": commitment.deal.offer.number,
            "quantity": commitment.quantity,
            "max_quantity": commitment.max_quantity,
            "only_if_members": commitment.min_members,
            "intent": commitment.intent_id,
            "share_contact": commitment.share_contact,
            "status": commitment.status.value,
            "created_at": iso(commitment.created_at),
            "updated_at": iso(commitment.updated_at),
        }
        for commitment in found
    ]


def erase_commitments(session: Session, user: User) -> None:
    """The quantities stay in the deals' totals (the company was told them); nothing of the
    person is shared any more."""
    session.execute(
        update(Commitment).where(Commitment.user_id == user.id).values(share_contact=False)
    )


ACTOR_COLUMNS = {
    DemandOffer: DemandOffer.created_by_id,
    OfferInvitation: OfferInvitation.invited_by_id,
    Bid: Bid.submitted_by_id,
    BidScore: BidScore.scored_by_id,
}


def _unname(model):
    def erase(session: Session, user: User) -> None:
        column = ACTOR_COLUMNS[model]
        session.execute(update(model).where(column == user.id).values({column.key: None}))

    return erase


def register() -> None:
    register_personal_data(
        "demand_offers",
        table="demand_offers",
        title=_l("Demand offers you drafted for a group"),
        export=export_offers,
        erase=_unname(DemandOffer),
        kept=_l("The group's offers, without saying that you drafted them."),
    )
    register_personal_data(
        "offer_invitations",
        table="offer_invitations",
        title=_l("Companies you invited to a group's offers"),
        export=export_offer_invitations,
        erase=_unname(OfferInvitation),
        kept=_l("The invitations, without saying that you sent them."),
    )
    register_personal_data(
        "bids",
        table="bids",
        title=_l("Bids you submitted for a company"),
        export=export_bids,
        erase=_unname(Bid),
        kept=_l("The company's bids, without saying who submitted them."),
    )
    register_personal_data(
        "commitments",
        table="commitments",
        title=_l("Your commitments to deals"),
        export=export_commitments,
        erase=erase_commitments,
        kept=_l(
            "The quantities you committed, in the deals' totals, without your name; your "
            "contact details are no longer shared."
        ),
    )
    register_personal_data(
        "bid_scores",
        table="bid_scores",
        title=_l("Scores you gave companies' bids for a group"),
        export=export_bid_scores,
        erase=_unname(BidScore),
        kept=_l("The group's scores, without saying who gave them."),
    )
