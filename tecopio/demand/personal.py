"""Offers' part in a person's export and erasure (``tecopio/privacy/registry.py``)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.demand.models import DemandOffer, OfferInvitation
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


def _unname(model):
    def erase(session: Session, user: User) -> None:
        column = model.created_by_id if model is DemandOffer else model.invited_by_id
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
