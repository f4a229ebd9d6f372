"""Demand offers: building one, publishing it as the charter says, inviting companies.

Functions change the session and flush; the caller commits. Who may call
them is ``tecopio.policy``'s question; the rules of the offer itself (its
states, the company k, the allow-list, the deadline) are kept here.
"""

from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from tecopio import events
from tecopio.accounts.models import User
from tecopio.analytics.company import freeze_company_release, preview_company_release
from tecopio.audit.services import record
from tecopio.categories.models import Category
from tecopio.categories.services import load_tree
from tecopio.db import utcnow
from tecopio.demand.models import (
    DemandOffer,
    OfferEvent,
    OfferInvitation,
    OfferStatus,
    PriceBasis,
    next_offer_status,
)
from tecopio.directory.models import Company
from tecopio.governance.charters import current_charter
from tecopio.governance.decisions import open_proposal, record_admin_decision
from tecopio.groups.models import Group
from tecopio.money import CURRENCIES
from tecopio.partners.models import PartnerCompany
from tecopio.text import InvalidText, clean_line, clean_paragraphs

TITLE_MAX = 200
TERMS_MAX = 8000
WEIGHT_MAX = 100
TIPPING_MAX = 100_000
TIERS_MAX = 5
DEADLINE_DAYS_MAX = 120
UNIT_MAX = 80

# What bids are scored by, in this order; the offer gives each a weight.
CRITERIA = {
    "price": _l("Price"),
    "conditions": _l("Conditions"),
    "local": _l("Local"),
    "renewable": _l("Renewable or sustainable"),
    "warranty": _l("Warranty"),
    "service": _l("Service"),
}


class OfferError(Exception):
    message = _l("This could not be done.")

    def __init__(self, message=None):
        super().__init__(str(message or self.message))
        if message is not None:
            self.message = message


class InvalidOffer(OfferError):
    """Several fields can be wrong at once; ``errors`` maps each field to what is wrong."""

    message = _l("The offer could not be saved: see the fields marked.")

    def __init__(self, errors: dict[str, str]):
        super().__init__()
        self.errors = errors


class NotADraft(OfferError):
    message = _l("Only a draft can be changed or published; this offer is no longer one.")


class PublishedByVote(OfferError):
    message = _l("The charter says the members publish offers by a vote: put it to a vote.")


class PublishedByAdmins(OfferError):
    message = _l("The charter lets the admins publish offers: there is nothing to vote on.")


class NotOpenForInvitations(OfferError):
    message = _l("Companies can be invited only while the offer is published and open for bids.")


class NotInvitable(OfferError):
    message = _l(
        "Only verified companies of the sectors the charter names can be invited: %(names)s cannot."
    )

    def __init__(self, names: list[str]):
        super().__init__(self.message % {"names": ", ".join(names)})


class NoCompanyChosen(OfferError):
    message = _l("Choose at least one company to invite.")


class DeadlineTooClose(OfferError):
    message = _l("The bidding deadline must fall at least a day after the vote closes.")


def deadline_of(day: date) -> datetime:
    """Bids are taken until the end of the day chosen (UTC)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def _check_offer(
    session: Session,
    group: Group,
    *,
    title,
    category_id,
    terms,
    weights: dict,
    tipping_point,
    tiers,
    deadline_day,
    now: datetime,
    price_basis="unit",
    currency="EUR",
    unit_label="",
) -> dict:
    """Every field checked at once: the values to store, or InvalidOffer naming each error."""
    errors: dict[str, str] = {}
    values: dict = {}
    charter = current_charter(session, group)
    try:
        values["title"] = clean_line(title, max_length=TITLE_MAX)
    except InvalidText as error:
        errors["title"] = str(error.message)
    category = session.get(Category, category_id) if isinstance(category_id, int) else None
    if category is None or category.parent_id is not None:
        errors["category_id"] = str(_l("Choose a top category from the list."))
    elif not charter.allows_category(category.slug):
        errors["category_id"] = str(_l("The charter does not let the group add up this category."))
    else:
        values["category_id"] = category.id
    try:
        values["terms"] = clean_paragraphs(terms, max_length=TERMS_MAX)
        if not values["terms"]:
            errors["terms"] = str(_l("Write the terms companies must accept."))
    except InvalidText as error:
        errors["terms"] = str(error.message)
    criteria = []
    for key in CRITERIA:
        weight = weights.get(key, 0)
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= WEIGHT_MAX:
            errors[f"weight_{key}"] = str(_l("Enter a whole number from 0 to 100."))
            continue
        criteria.append({"key": key, "weight": weight})
    unknown = set(weights) - set(CRITERIA)
    if unknown:
        errors["weights"] = str(
            _l("Unknown criterion: %(names)s.", names=", ".join(sorted(unknown)))
        )
    elif len(criteria) == len(CRITERIA) and not any(c["weight"] for c in criteria):
        errors["weights"] = str(_l("Give at least one criterion a weight above 0."))
    values["criteria"] = criteria
    company_k = charter.company_k
    if (
        isinstance(tipping_point, bool)
        or not isinstance(tipping_point, int)
        or not company_k <= tipping_point <= TIPPING_MAX
    ):
        errors["tipping_point"] = str(
            _l(
                "Enter a whole number from %(min)d (the charter's company minimum: the company "
                "learns how many committed) to %(max)d.",
                min=company_k,
                max=TIPPING_MAX,
            )
        )
    else:
        values["tipping_point"] = tipping_point
    tiers = list(tiers or [])
    if len(tiers) > TIERS_MAX or not all(
        isinstance(t, int) and not isinstance(t, bool) for t in tiers
    ):
        errors["tiers"] = str(_l("Enter up to five whole numbers, separated by commas."))
    elif "tipping_point" in values and (
        tiers != sorted(set(tiers)) or (tiers and tiers[0] <= values["tipping_point"])
    ):
        errors["tiers"] = str(
            _l("Each tier must be more members than the tipping point and the tier before it.")
        )
    elif any(t > TIPPING_MAX for t in tiers):
        errors["tiers"] = str(_l("Enter numbers up to %(max)d.", max=TIPPING_MAX))
    else:
        values["tiers"] = tiers
    today = now.date()
    if not isinstance(deadline_day, date) or not (
        today < deadline_day <= today + timedelta(days=DEADLINE_DAYS_MAX)
    ):
        errors["deadline"] = str(
            _l("Choose a day after today and at most %(n)d days ahead.", n=DEADLINE_DAYS_MAX)
        )
    else:
        values["bid_deadline"] = deadline_of(deadline_day)
    try:
        values["price_basis"] = PriceBasis(price_basis)
    except ValueError:
        errors["price_basis"] = str(_l("Choose how companies quote their price."))
    if currency not in CURRENCIES:
        errors["currency"] = str(_l("Unknown currency."))
    else:
        values["currency"] = currency
    try:
        values["unit_label"] = clean_line(unit_label, max_length=UNIT_MAX, required=False)
    except InvalidText as error:
        errors["unit_label"] = str(error.message)
    if errors:
        raise InvalidOffer(errors)
    return values


def _next_number(session: Session, group: Group) -> int:
    session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    highest = session.scalar(
        select(func.max(DemandOffer.number)).where(DemandOffer.group_id == group.id)
    )
    return (highest or 0) + 1


def create_offer(session: Session, admin: User, group: Group, *, now=None, **fields) -> DemandOffer:
    now = now or utcnow()
    values = _check_offer(session, group, now=now, **fields)
    offer = DemandOffer(
        group_id=group.id,
        number=_next_number(session, group),
        created_by_id=admin.id,
        status=OfferStatus.DRAFT,
        **values,
    )
    session.add(offer)
    session.flush()
    record(session, "offer.drafted", actor=admin, group=group, number=offer.number)
    return offer


def update_offer(session: Session, admin: User, offer: DemandOffer, *, now=None, **fields) -> None:
    if offer.status != OfferStatus.DRAFT:
        raise NotADraft()
    values = _check_offer(session, offer.group, now=now or utcnow(), **fields)
    for name, value in values.items():
        setattr(offer, name, value)
    record(session, "offer.edited", actor=admin, group=offer.group, number=offer.number)
    session.flush()


def admins_publish(charter) -> bool:
    return charter["partners.publish_offers"] == "admins"


def _apply(offer: DemandOffer, event: OfferEvent) -> None:
    offer.status = next_offer_status(offer.status, event)


def _freeze(session: Session, offer: DemandOffer, now: datetime) -> None:
    root = session.get(Category, offer.category_id)
    offer.snapshot = freeze_company_release(session, offer.group, root, load_tree(session))
    offer.published_at = now


def publish_offer(session: Session, admin: User, offer: DemandOffer, *, now=None) -> None:
    """An admin publishes a draft, where the charter lets admins publish: the figures freeze."""
    now = now or utcnow()
    if offer.status != OfferStatus.DRAFT:
        raise NotADraft()
    if not admins_publish(current_charter(session, offer.group)):
        raise PublishedByVote()
    if offer.bid_deadline <= now:
        raise InvalidOffer(
            {"deadline": str(_l("The bidding deadline has passed: choose another."))}
        )
    _apply(offer, OfferEvent.PUBLISH)
    _freeze(session, offer, now)
    decision = record_admin_decision(
        session,
        admin,
        offer.group,
        kind="offer",
        title=offer.title,
        payload={"offer_id": offer.id, "number": offer.number, "title": offer.title},
    )
    offer.proposal_id = decision.id
    record(
        session, "offer.published", actor=admin, group=offer.group, number=offer.number, offer=offer
    )
    session.flush()
    events.offer_published.send(offer, session=session)


def propose_offer(session: Session, author: User, offer: DemandOffer, *, now=None):
    """Put a draft to the members' vote, where the charter says members publish offers."""
    now = now or utcnow()
    if offer.status != OfferStatus.DRAFT:
        raise NotADraft()
    charter = current_charter(session, offer.group)
    if admins_publish(charter):
        raise PublishedByAdmins()
    if offer.bid_deadline < now + timedelta(days=charter["decisions.voting_days"] + 1):
        raise DeadlineTooClose()
    proposal = open_proposal(
        session,
        author,
        offer.group,
        kind="offer",
        title=offer.title,
        description=str(
            _l("Publish demand offer %(number)s to partner companies.", number=offer.number)
        ),
        payload={"offer_id": offer.id},
        now=now,
    )
    offer.proposal_id = proposal.id
    session.flush()
    return proposal


def _offer_of_payload(session: Session, group: Group, payload: dict) -> DemandOffer | None:
    offer_id = payload.get("offer_id")
    offer = session.get(DemandOffer, offer_id) if isinstance(offer_id, int) else None
    if offer is None or offer.group_id != group.id:
        return None
    return offer


def prepare_offer_vote(session: Session, group: Group, payload: dict) -> dict:
    """A vote on publishing a draft of this group's (``governance.kinds``)."""
    offer = _offer_of_payload(session, group, payload)
    if offer is None or offer.status != OfferStatus.DRAFT:
        raise NotADraftVote()
    offer.status = next_offer_status(offer.status, OfferEvent.PROPOSE)
    return {"offer_id": offer.id, "number": offer.number, "title": offer.title}


def publish_by_vote(session: Session, group: Group, proposal) -> None:
    offer = _offer_of_payload(session, group, proposal.payload)
    if offer is None or offer.status != OfferStatus.PROPOSED:
        return
    now = utcnow()
    _apply(offer, OfferEvent.PUBLISH)
    _freeze(session, offer, now)
    record(
        session,
        "offer.published",
        group=group,
        number=offer.number,
        offer=offer,
        proposal=proposal.number,
    )
    session.flush()
    events.offer_published.send(offer, session=session)


def reject_by_vote(session: Session, group: Group, proposal) -> None:
    offer = _offer_of_payload(session, group, proposal.payload)
    if offer is not None and offer.status == OfferStatus.PROPOSED:
        _apply(offer, OfferEvent.REJECT)
        record(session, "offer.rejected", group=group, number=offer.number)


class NotADraftVote(OfferError):
    message = _l("There is no such draft offer to vote on.")


def cancel_offer(session: Session, admin: User, offer: DemandOffer) -> None:
    if offer.status != OfferStatus.DRAFT:
        raise NotADraft()
    _apply(offer, OfferEvent.CANCEL)
    record(session, "offer.cancelled", actor=admin, group=offer.group, number=offer.number)
    session.flush()


def preview_snapshot(session: Session, offer: DemandOffer) -> dict:
    root = session.get(Category, offer.category_id)
    return preview_company_release(session, offer.group, root, load_tree(session))


def offer_by_number(session: Session, group: Group, number: int) -> DemandOffer | None:
    return session.scalar(
        select(DemandOffer).where(DemandOffer.group_id == group.id, DemandOffer.number == number)
    )


def offers_of(session: Session, group: Group, *, drafts: bool) -> list[DemandOffer]:
    """The group's offers, newest first; drafts (and cancelled ones) only for its admins."""
    statement = (
        select(DemandOffer)
        .options(joinedload(DemandOffer.category))
        .where(DemandOffer.group_id == group.id)
        .order_by(DemandOffer.number.desc())
    )
    if not drafts:
        statement = statement.where(
            DemandOffer.status.not_in([OfferStatus.DRAFT, OfferStatus.CANCELLED])
        )
    return list(session.scalars(statement))


def invitable_companies(session: Session, group: Group) -> list[PartnerCompany]:
    """Verified companies of the sectors the charter names, by name."""
    charter = current_charter(session, group)
    partners = session.scalars(
        select(PartnerCompany)
        .join(Company, Company.id == PartnerCompany.company_id)
        .options(joinedload(PartnerCompany.company).joinedload(Company.sector))
        .where(PartnerCompany.verified_at.is_not(None))
        .order_by(func.lower(Company.name))
    )
    return [
        partner
        for partner in partners
        if charter.deals_with_sector(
            partner.company.sector.slug if partner.company.sector else None
        )
    ]


def invited_companies(session: Session, offer: DemandOffer) -> list[OfferInvitation]:
    return list(
        session.scalars(
            select(OfferInvitation)
            .options(joinedload(OfferInvitation.partner).joinedload(PartnerCompany.company))
            .where(OfferInvitation.offer_id == offer.id)
            .order_by(OfferInvitation.created_at, OfferInvitation.id)
        )
    )


def invite_companies(
    session: Session, admin: User, offer: DemandOffer, partner_ids: list[int], *, now=None
) -> list[OfferInvitation]:
    """Invite companies to bid: all of them, or none when one may not be invited."""
    now = now or utcnow()
    if not offer.is_open_for_bids(now):
        raise NotOpenForInvitations()
    if not partner_ids:
        raise NoCompanyChosen()
    allowed = {partner.id: partner for partner in invitable_companies(session, offer.group)}
    chosen = [session.get(PartnerCompany, pid) for pid in dict.fromkeys(partner_ids)]
    refused = [
        partner.name if partner is not None else str(_l("an unknown company"))
        for partner in chosen
        if partner is None or partner.id not in allowed
    ]
    if refused:
        raise NotInvitable(refused)
    already = set(
        session.scalars(
            select(OfferInvitation.partner_id).where(OfferInvitation.offer_id == offer.id)
        )
    )
    made = []
    for partner in chosen:
        if partner.id in already:
            continue
        invitation = OfferInvitation(
            offer=offer, partner=partner, invited_by_id=admin.id, created_at=now
        )
        session.add(invitation)
        made.append(invitation)
        record(
            session,
            "offer.company_invited",
            actor=admin,
            group=offer.group,
            number=offer.number,
            partner=partner,
            offer=offer,
            company=partner.name,
        )
    session.flush()
    for invitation in made:
        events.offer_invitation_sent.send(invitation, session=session)
    return made


def invitation_for(
    session: Session, partner: PartnerCompany, group: Group, number: int
) -> OfferInvitation | None:
    """The company's invitation to this offer, or None: an offer it was not invited to is
    not there for it."""
    return session.scalar(
        select(OfferInvitation)
        .join(DemandOffer, DemandOffer.id == OfferInvitation.offer_id)
        .options(joinedload(OfferInvitation.offer))
        .where(
            OfferInvitation.partner_id == partner.id,
            DemandOffer.group_id == group.id,
            DemandOffer.number == number,
        )
    )


def offers_for_company(session: Session, partner: PartnerCompany) -> list[OfferInvitation]:
    return list(
        session.scalars(
            select(OfferInvitation)
            .join(DemandOffer, DemandOffer.id == OfferInvitation.offer_id)
            .options(joinedload(OfferInvitation.offer).joinedload(DemandOffer.group))
            .where(OfferInvitation.partner_id == partner.id)
            .order_by(DemandOffer.bid_deadline.desc())
        )
    )


def invited_offer_ids(partner: PartnerCompany):
    """A select of the ids of the offers the company was invited to."""
    return select(OfferInvitation.offer_id).where(OfferInvitation.partner_id == partner.id)


def close_due_offers(session: Session, now=None) -> int:
    """Published offers past their bidding deadline close (a periodic job)."""
    now = now or utcnow()
    due = session.scalars(
        select(DemandOffer).where(
            DemandOffer.status == OfferStatus.PUBLISHED, DemandOffer.bid_deadline <= now
        )
    ).all()
    for offer in due:
        close_if_due(session, offer, now)
    session.flush()
    return len(due)


def close_if_due(session: Session, offer: DemandOffer, now: datetime) -> None:
    """Close bidding once its deadline passed: by the periodic job, or first thing when the
    group acts on the bids (the job may not have run yet)."""
    if offer.status == OfferStatus.PUBLISHED and offer.bid_deadline <= now:
        _apply(offer, OfferEvent.CLOSE)
        record(session, "offer.closed", group=offer.group, number=offer.number, offer=offer)
        session.flush()
        events.offer_closed.send(offer, session=session)
