"""Deals: an accepted bid that the group's members commit to until a deadline.

An accepted bid opens a deal (``open_deal``); members whose intents match are
told. Any active member commits a quantity (perhaps up to a maximum, perhaps
only if a price tier is reached) and may withdraw until the deal tips. The
deal tips exactly once, when the commitments that count reach the tipping
point: the deal's row is locked while a commitment is counted, so that two
last commitments arriving together tip it once. Past the deadline a deal
below its tipping point fails and nobody is bound; a tipped one completes.
Functions change the session and flush; the caller commits.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from tecopio import events
from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.categories.models import Category
from tecopio.db import utcnow
from tecopio.demand.models import (
    Bid,
    Commitment,
    CommitmentStatus,
    Deal,
    DealEvent,
    DealStatus,
    DemandOffer,
    next_deal_status,
)
from tecopio.demand.tipping import Count, Pledge, Standing, counted, standing, tier_reached
from tecopio.governance.charters import GovernanceError, current_charter
from tecopio.groups.models import Membership, MembershipStatus
from tecopio.groups.services import membership_of
from tecopio.memberdata.models import Feedback, Intent, IntentStatus
from tecopio.memberdata.services import InvalidItem, create_feedback, update_feedback

QUANTITY_MAX = 1_000_000


class DealError(GovernanceError):
    """Refused, with a message a person can act on."""

    message = _l("This could not be done.")


class InvalidCommitment(DealError):
    message = _l("The commitment could not be saved: see the fields marked.")

    def __init__(self, errors: dict[str, str]):
        super().__init__()
        self.errors = errors


class NotAMember(DealError):
    message = _l("Only the group's active members commit to its deals.")


class CommitmentsClosed(DealError):
    message = _l("This deal takes no more commitments: its deadline has passed.")


class AlreadyCommitted(DealError):
    message = _l("You have already committed to this deal.")


class NoCommitment(DealError):
    message = _l("You have no commitment to this deal.")


class Binding(DealError):
    message = _l("The deal has gone ahead: commitments to it can no longer be withdrawn.")


class NotRatable(DealError):
    message = _l("Only members whose commitment counted rate a deal, once it has gone ahead.")


class InvalidRating(DealError):
    def __init__(self, field: str, message):
        super().__init__(str(message))
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CommitmentValues:
    quantity: object
    max_quantity: object = None
    tier: object = None  # index of the offer's tier the commitment waits for, or None
    intent_id: object = None
    share_contact: bool = False


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def deal_of(session: Session, offer: DemandOffer) -> Deal | None:
    return session.scalar(select(Deal).where(Deal.offer_id == offer.id))


def open_deal(session: Session, offer: DemandOffer, bid: Bid, now: datetime) -> Deal:
    """The accepted bid becomes a deal, open for the charter's commitment days."""
    days = current_charter(session, offer.group)["partners.commitment_days"]
    deal = Deal(
        offer=offer,
        group_id=offer.group_id,
        bid=bid,
        partner_id=bid.partner_id,
        tipping_point=offer.tipping_point,
        deadline=now + timedelta(days=days),
        created_at=now,
    )
    session.add(deal)
    session.flush()
    record(
        session,
        "deal.opened",
        group=offer.group,
        number=offer.number,
        partner=bid.partner,
        offer=offer,
    )
    events.deal_opened.send(deal, session=session)
    return deal


def matching_intent_owners(session: Session, deal: Deal) -> list[int]:
    """Active members with an open intent in the offer's category: told a deal opened."""
    return list(
        session.scalars(
            select(Intent.user_id)
            .join(Category, Category.id == Intent.category_id)
            .join(Membership, Membership.user_id == Intent.user_id)
            .where(
                _in_offer_category(deal),
                Intent.status == IntentStatus.OPEN,
                Membership.group_id == deal.group_id,
                Membership.status == MembershipStatus.ACTIVE,
            )
            .distinct()
        )
    )


def _in_offer_category(deal: Deal):
    """The offer's top category or one of its sub-categories (the taxonomy has two levels)."""
    root = deal.offer.category_id
    return or_(Category.id == root, Category.parent_id == root)


def _locked(session: Session, deal: Deal) -> Deal:
    """The deal's row locked (PostgreSQL) and read afresh: commitments to it queue."""
    return session.scalars(
        select(Deal)
        .where(Deal.id == deal.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def active_commitments(session: Session, deal: Deal) -> list[Commitment]:
    return list(
        session.scalars(
            select(Commitment)
            .where(Commitment.deal_id == deal.id, Commitment.status == CommitmentStatus.ACTIVE)
            .order_by(Commitment.id)
        )
    )


def count_of(session: Session, deal: Deal) -> Count:
    return counted(
        [
            Pledge(c.id, c.quantity, c.max_quantity, c.min_members)
            for c in active_commitments(session, deal)
        ]
    )


def standing_of(session: Session, deal: Deal) -> Standing:
    return standing(count_of(session, deal), deal.tipping_point, deal.offer.tiers)


def commitment_of(session: Session, deal: Deal, user: User) -> Commitment | None:
    return session.scalar(
        select(Commitment).where(Commitment.deal_id == deal.id, Commitment.user_id == user.id)
    )


def matching_intents(session: Session, deal: Deal, user: User) -> list[Intent]:
    """The member's open intents a commitment to this deal may take (and lock)."""
    return list(
        session.scalars(
            select(Intent)
            .join(Category, Category.id == Intent.category_id)
            .where(
                Intent.user_id == user.id,
                Intent.status == IntentStatus.OPEN,
                _in_offer_category(deal),
            )
            .order_by(Intent.id)
        )
    )


def _check(session: Session, deal: Deal, user: User, values: CommitmentValues) -> dict:
    errors: dict[str, str] = {}
    found: dict = {}
    if not _whole(values.quantity, 1, QUANTITY_MAX):
        errors["quantity"] = str(_l("Enter a whole number from 1 to %(max)d.", max=QUANTITY_MAX))
    else:
        found["quantity"] = values.quantity
    if values.max_quantity is None:
        found["max_quantity"] = None
    elif not _whole(values.max_quantity, 1, QUANTITY_MAX) or (
        "quantity" in found and values.max_quantity < found["quantity"]
    ):
        errors["max_quantity"] = str(_l("The maximum is a whole number, at least the quantity."))
    else:
        found["max_quantity"] = values.max_quantity
    tiers = deal.offer.tiers
    if values.tier is None:
        found["min_members"] = None
    elif not _whole(values.tier, 0, len(tiers) - 1):
        errors["tier"] = str(_l("Choose one of the offer's price tiers, or none."))
    else:
        found["min_members"] = tiers[values.tier]
    found["intent"] = None
    if values.intent_id is not None:
        intent = next(
            (i for i in matching_intents(session, deal, user) if i.id == values.intent_id), None
        )
        if intent is None:
            errors["intent_id"] = str(_l("Choose one of your open intents in this category."))
        found["intent"] = intent
    if not isinstance(values.share_contact, bool):
        errors["share_contact"] = str(_l("Choose yes or no."))
    found["share_contact"] = bool(values.share_contact)
    if errors:
        raise InvalidCommitment(errors)
    return found


def _open(deal: Deal, now: datetime) -> None:
    if not deal.is_open_for_commitments(now):
        raise CommitmentsClosed()


def commit(
    session: Session, user: User, deal: Deal, values: CommitmentValues, *, now=None
) -> Commitment:
    """A member's commitment; the deal tips here if it is the one that makes it count."""
    now = now or utcnow()
    deal = _locked(session, deal)
    membership = membership_of(session, user, deal.group)
    if membership is None or membership.status != MembershipStatus.ACTIVE:
        raise NotAMember()
    _open(deal, now)
    found = _check(session, deal, user, values)
    commitment = commitment_of(session, deal, user)
    if commitment is not None and commitment.active:
        raise AlreadyCommitted()
    if commitment is None:
        commitment = Commitment(deal=deal, user=user, created_at=now)
        session.add(commitment)
    commitment.status = CommitmentStatus.ACTIVE
    commitment.quantity = found["quantity"]
    commitment.max_quantity = found["max_quantity"]
    commitment.min_members = found["min_members"]
    commitment.share_contact = found["share_contact"]
    commitment.intent_id = found["intent"].id if found["intent"] else None
    commitment.updated_at = now
    if found["intent"] is not None:
        found["intent"].status = IntentStatus.COMMITTED  # locked: it belongs to the deal now
    session.flush()
    record(session, "deal.committed", actor=user, group=deal.group, number=deal.offer.number)
    _recount(session, deal, now)
    return commitment


def _release_intent(session: Session, commitment: Commitment) -> None:
    if commitment.intent_id is not None:
        intent = session.get(Intent, commitment.intent_id)
        if intent is not None and intent.status == IntentStatus.COMMITTED:
            intent.status = IntentStatus.OPEN


def withdraw(session: Session, user: User, deal: Deal, *, now=None) -> Commitment:
    """Before the deal tips (and before its deadline), a member takes their commitment back."""
    now = now or utcnow()
    deal = _locked(session, deal)
    _open(deal, now)
    commitment = commitment_of(session, deal, user)
    if commitment is None or not commitment.active:
        raise NoCommitment()
    if deal.status != DealStatus.OPEN:
        raise Binding()
    commitment.status = CommitmentStatus.WITHDRAWN
    commitment.updated_at = now
    _release_intent(session, commitment)
    session.flush()
    record(session, "deal.withdrawn", actor=user, group=deal.group, number=deal.offer.number)
    return commitment


def share_contact(session: Session, user: User, deal: Deal, share: bool) -> Commitment:
    """Whether the company gets this member's name and email once the deal tipped: the
    member's choice, changed at any time, respected at once."""
    commitment = commitment_of(session, deal, user)
    if commitment is None or not commitment.active:
        raise NoCommitment()
    commitment.share_contact = bool(share)
    commitment.updated_at = utcnow()
    session.flush()
    record(
        session,
        "deal.contact_shared" if share else "deal.contact_withheld",
        actor=user,
        group=deal.group,
        number=deal.offer.number,
    )
    return commitment


def _company_k(session: Session, deal: Deal) -> int:
    return current_charter(session, deal.group).company_k


def _recount(session: Session, deal: Deal, now: datetime) -> None:
    """Tip the deal once enough count; tell the company only steps of k members or more."""
    count = count_of(session, deal)
    if deal.status == DealStatus.OPEN and count.members >= deal.tipping_point:
        deal.status = next_deal_status(deal.status, DealEvent.TIP)
        deal.tipped_at = now
        _tell(deal, count, now)
        session.flush()
        record(
            session,
            "deal.tipped",
            group=deal.group,
            number=deal.offer.number,
            partner=deal.partner,
            offer=deal.offer,
            members=count.members,
        )
        events.deal_tipped.send(deal, session=session)
    elif deal.went_ahead and count.members - deal.told_members >= _company_k(session, deal):
        _tell(deal, count, now)
        session.flush()


def _tell(deal: Deal, count: Count, now: datetime) -> None:
    deal.told_members, deal.told_quantity, deal.told_at = count.members, count.quantity, now


def close_if_due(session: Session, deal: Deal, now: datetime) -> bool:
    """Past its deadline a deal below the tipping point fails (intents are free again);
    a tipped one completes (conditional commitments that never counted bind nobody)."""
    if not deal.is_open_for_commitments(now) and deal.status in (
        DealStatus.OPEN,
        DealStatus.TIPPED,
    ):
        deal = _locked(session, deal)
        if deal.status not in (DealStatus.OPEN, DealStatus.TIPPED):
            return False  # another worker closed it first
        count = count_of(session, deal)
        for commitment in active_commitments(session, deal):
            if deal.status == DealStatus.OPEN or commitment.id not in count.keys:
                _release_intent(session, commitment)
        deal.status = next_deal_status(deal.status, DealEvent.CLOSE)
        deal.closed_at = now
        session.flush()
        record(
            session,
            "deal.failed" if deal.status == DealStatus.FAILED else "deal.completed",
            group=deal.group,
            number=deal.offer.number,
            partner=deal.partner,
            offer=deal.offer,
        )
        events.deal_closed.send(deal, session=session)
        return True
    return False


def close_due_deals(session: Session, now=None) -> int:
    """Deals past their deadline fail or complete (a periodic job); how many."""
    now = now or utcnow()
    due = session.scalars(
        select(Deal).where(
            Deal.status.in_([DealStatus.OPEN, DealStatus.TIPPED]), Deal.deadline <= now
        )
    ).all()
    closed = sum(close_if_due(session, deal, now) for deal in due)
    session.flush()
    return closed


def counted_commitment(session: Session, deal: Deal, commitment: Commitment) -> bool:
    return commitment.active and commitment.id in count_of(session, deal).keys


def contacts(session: Session, deal: Deal) -> list[tuple[str, str]]:
    """Name and email of the members who chose to share them, for a deal that went ahead,
    of commitments that count: the only identities a company ever sees."""
    if not deal.went_ahead:
        return []
    keys = count_of(session, deal).keys
    rows = session.scalars(
        select(Commitment)
        .options(joinedload(Commitment.user))
        .where(
            Commitment.deal_id == deal.id,
            Commitment.status == CommitmentStatus.ACTIVE,
            Commitment.share_contact.is_(True),
        )
        .order_by(Commitment.id)
    ).all()
    return [
        (c.user.display_name, c.user.email)
        for c in rows
        if c.id in keys and c.user.erased_at is None
    ]


# --- rating a deal ---------------------------------------------------------------------


def rating_of(session: Session, deal: Deal, user: User) -> Feedback | None:
    return session.scalar(
        select(Feedback).where(Feedback.deal_id == deal.id, Feedback.user_id == user.id)
    )


def can_rate(session: Session, deal: Deal, user: User) -> bool:
    """Members whose commitment counted, once the deal went ahead: they are the buyers."""
    if not deal.went_ahead:
        return False
    mine = commitment_of(session, deal, user)
    return mine is not None and counted_commitment(session, deal, mine)


def rate(
    session: Session, user: User, deal: Deal, *, rating, body: str, visibility: str
) -> Feedback:
    """The member's rating of a deal: feedback about the company, in the offer's category,
    linked to the deal, counted where the member consented (the analytics page, and the
    company's feedback page if ``visibility`` lets companies count it). A second rating
    changes the first."""
    if not can_rate(session, deal, user):
        raise NotRatable()
    fields = {
        "company_id": deal.partner.company_id,
        "category_id": deal.offer.category_id,
        "rating": rating,
        "body": body,
        "visibility": visibility,
    }
    existing = rating_of(session, deal, user)
    try:
        if existing is not None:
            update_feedback(session, existing, **fields)
            feedback = existing
        else:
            feedback = create_feedback(session, user, deal_id=deal.id, **fields)
    except InvalidItem as error:
        raise InvalidRating(error.field, error.message) from error
    record(
        session,
        "feedback.deal_rated",
        actor=user,
        target_user=user,
        number=deal.offer.number,
        group_name=deal.group.name,
    )
    return feedback


def price_now(deal: Deal, members: int) -> int:
    """The bid's price at the tier the counted members reach (its tipping price below)."""
    tier = tier_reached(deal.offer.tiers, members)
    return deal.bid.price if tier is None else deal.bid.tier_prices[tier]
