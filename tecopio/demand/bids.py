"""Bids on an offer and the group's choice among them.

A company answers an offer it was invited to with one bid on a fixed
template, or declines; it may edit or withdraw its bid until the deadline.
Once bidding closes, the group compares the standing bids and accepts one, or
none, as its charter says: the admins decide, or the members vote (the
proposal kind "accept_bid"). Functions change the session and flush; the
caller commits. Who may call them is ``tecopio.policy``'s question.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from tecopio import events
from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.db import utcnow
from tecopio.demand.deals import open_deal
from tecopio.demand.models import (
    Bid,
    BidEvent,
    BidScore,
    BidStatus,
    DemandOffer,
    FeeKind,
    InvalidBidTransition,
    OfferEvent,
    OfferInvitation,
    OfferStatus,
    PriceBasis,
    TermsAnswer,
    next_bid_status,
    next_offer_status,
)
from tecopio.demand.scoring import COMPUTED, FULL_DISCOUNT, BidFacts, Nudge, Ranked, rank
from tecopio.demand.services import close_if_due
from tecopio.governance.charters import GovernanceError, current_charter
from tecopio.governance.decisions import open_proposal, record_admin_decision
from tecopio.governance.models import Proposal, ProposalStatus
from tecopio.groups.models import Group
from tecopio.money import CURRENCIES, MAX_MINOR
from tecopio.partners.models import PartnerCompany
from tecopio.text import InvalidText, clean_line, clean_paragraphs

COUNTER_MAX = 2000
REASON_MAX = 2000
CONDITIONS_MAX = 4000
STATEMENT_MAX = 300
WARRANTY_MONTHS_MAX = 600
VALIDITY_DAYS_MAX = 365
# Criteria the company describes in a line and the group's admins score by hand.
STATED = ("conditions", "local", "renewable", "service")


class BidError(GovernanceError):
    """Refused, with a message a person can act on. A GovernanceError, so that a vote that
    can no longer be carried out records why instead of failing."""

    message = _l("This could not be done.")

    def __init__(self, message=None):
        super().__init__(str(message or self.message))
        if message is not None:
            self.message = message


class InvalidBid(BidError):
    message = _l("The bid could not be saved: see the fields marked.")

    def __init__(self, errors: dict[str, str]):
        super().__init__()
        self.errors = errors


class NotInvited(BidError):
    message = _l("Only companies the group invited may answer this offer.")


class BiddingClosed(BidError):
    message = _l("Bidding on this offer has closed: bids can no longer be made or changed.")


class AlreadyBid(BidError):
    message = _l("Your company has already bid on this offer: edit or withdraw that bid.")


class NoStandingBid(BidError):
    message = _l("Your company has no bid standing on this offer.")


class NotDecidable(BidError):
    message = _l("The group chooses among bids once bidding has closed, and only once.")


class AcceptedByVote(BidError):
    message = _l("The charter says the members accept bids by a vote: put it to a vote.")


class AcceptedByAdmins(BidError):
    message = _l("The charter lets the admins accept bids: there is nothing to vote on.")


class VoteRunning(BidError):
    message = _l("A vote on this offer's bids is already open: wait for its outcome.")


class StandingBid(BidError):
    message = _l("Your company has a bid standing on this offer: withdraw it first.")


class NotAStandingBid(BidError):
    message = _l("That is not a bid standing on this offer.")


class BidExpired(BidError):
    message = _l("This bid is valid only until %(date)s: it can no longer be accepted then.")

    def __init__(self, until: date):
        super().__init__(self.message % {"date": until.isoformat()})


class InvalidScore(BidError):
    message = _l("Scores are whole numbers from 0 to 100.")


@dataclass(frozen=True)
class BidValues:
    """What a company typed into the bid template, before it is checked."""

    terms_answer: str
    counter_term: str = ""
    currency: str = "EUR"
    price: object = None
    tier_prices: tuple = ()
    fee_kind: str = FeeKind.PER_MEMBER.value
    fee: object = None
    conditions: str = ""
    warranty_months: object = 0
    statements: dict | None = None
    valid_until: object = None


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def earliest_validity(session: Session, offer: DemandOffer) -> date:
    """A bid must hold long enough for the group to compare and, where it votes, to vote."""
    days = current_charter(session, offer.group)["decisions.voting_days"]
    return offer.last_bidding_day + timedelta(days=days + 7)


def latest_validity(offer: DemandOffer) -> date:
    return offer.last_bidding_day + timedelta(days=VALIDITY_DAYS_MAX)


def suggested_validity(session: Session, offer: DemandOffer) -> date:
    """What the bid form suggests: a month past the earliest, so that a bid is still there
    to accept when a vote on it ends a little late."""
    return min(earliest_validity(session, offer) + timedelta(days=30), latest_validity(offer))


def _check_price(offer: DemandOffer, name: str, value, errors: dict) -> int | None:
    if offer.price_basis == PriceBasis.DISCOUNT:
        if not _whole(value, 0, FULL_DISCOUNT - 1):
            errors[name] = str(_l("Enter a discount from 0 to 99.99 %."))
            return None
    elif not _whole(value, 1, MAX_MINOR):
        errors[name] = str(_l("Enter a price above 0, in %(currency)s.", currency=offer.currency))
        return None
    return value


def _check_bid(session: Session, offer: DemandOffer, values: BidValues) -> dict:
    """Every field of the template checked at once: what to store, or InvalidBid."""
    errors: dict[str, str] = {}
    found: dict = {}
    try:
        found["terms_answer"] = TermsAnswer(values.terms_answer)
    except ValueError:
        errors["terms_answer"] = str(_l("Say whether the company accepts the group's terms."))
    try:
        counter = clean_paragraphs(values.counter_term, max_length=COUNTER_MAX)
    except InvalidText as error:
        errors["counter_term"] = str(error.message)
    else:
        if found.get("terms_answer") == TermsAnswer.COUNTER and not counter:
            errors["counter_term"] = str(_l("Write the one counter-term the company proposes."))
        found["counter_term"] = counter if found.get("terms_answer") == TermsAnswer.COUNTER else ""
    if values.currency not in CURRENCIES:
        errors["currency"] = str(_l("Unknown currency."))
    elif values.currency != offer.currency:
        errors["currency"] = str(
            _l(
                "Bids on this offer are in %(currency)s, so that they compare.",
                currency=offer.currency,
            )
        )
    else:
        found["currency"] = values.currency
    found["price"] = _check_price(offer, "price", values.price, errors)
    tier_prices = list(values.tier_prices or ())
    if len(tier_prices) != len(offer.tiers):
        errors["tier_prices"] = str(_l("Give a price for each tier the group asks about."))
    else:
        checked = [_check_price(offer, "tier_prices", p, errors) for p in tier_prices]
        if "tier_prices" not in errors and found["price"] is not None:
            steps = [found["price"], *checked]
            better = (
                (lambda a, b: b >= a)
                if offer.price_basis == PriceBasis.DISCOUNT
                else (lambda a, b: b <= a)
            )
            if not all(better(a, b) for a, b in zip(steps, steps[1:], strict=False)):
                errors["tier_prices"] = str(
                    _l("A tier's price must be no worse for members than the one before it.")
                )
        found["tier_prices"] = checked
    try:
        found["fee_kind"] = FeeKind(values.fee_kind)
    except ValueError:
        errors["fee_kind"] = str(_l("Choose how the fee is paid."))
    if not _whole(values.fee, 0, MAX_MINOR):
        errors["fee"] = str(
            _l("Enter the fee as an amount of 0 or more, in %(currency)s.", currency=offer.currency)
        )
    else:
        found["fee"] = values.fee
    try:
        found["conditions"] = clean_paragraphs(values.conditions, max_length=CONDITIONS_MAX)
    except InvalidText as error:
        errors["conditions"] = str(error.message)
    if not _whole(values.warranty_months, 0, WARRANTY_MONTHS_MAX):
        errors["warranty_months"] = str(_l("Enter a number of months from 0 to 600."))
    else:
        found["warranty_months"] = values.warranty_months
    statements = {}
    for key, text in (values.statements or {}).items():
        if key not in STATED or key == "conditions":
            errors["statements"] = str(_l("Unknown criterion: %(names)s.", names=key))
            continue
        try:
            line = clean_line(text, max_length=STATEMENT_MAX, required=False)
        except InvalidText as error:
            errors[f"statement_{key}"] = str(error.message)
            continue
        if line:
            statements[key] = line
    found["statements"] = statements
    earliest = earliest_validity(session, offer)
    latest = latest_validity(offer)
    if not isinstance(values.valid_until, date) or not earliest <= values.valid_until <= latest:
        errors["valid_until"] = str(
            _l(
                "Keep the bid valid from %(earliest)s (the group needs time to compare and "
                "decide) to at most %(latest)s.",
                earliest=earliest.isoformat(),
                latest=latest.isoformat(),
            )
        )
    else:
        found["valid_until"] = values.valid_until
    if errors:
        raise InvalidBid(errors)
    return found


def _invitation_locked(
    session: Session, offer: DemandOffer, partner: PartnerCompany
) -> OfferInvitation:
    """The company's invitation, its row locked (PostgreSQL) so that two colleagues bidding
    at once queue: the second finds the first's bid."""
    invitation = session.scalar(
        select(OfferInvitation)
        .where(OfferInvitation.offer_id == offer.id, OfferInvitation.partner_id == partner.id)
        .with_for_update()
    )
    if invitation is None:
        raise NotInvited()
    return invitation


def bid_of(session: Session, offer: DemandOffer, partner: PartnerCompany) -> Bid | None:
    return session.scalar(select(Bid).where(Bid.offer_id == offer.id, Bid.partner_id == partner.id))


def _step(bid: Bid | None, event: BidEvent) -> BidStatus:
    try:
        return next_bid_status(bid.status if bid else None, event)
    except InvalidBidTransition as error:
        if event == BidEvent.SUBMIT:
            raise AlreadyBid() from error
        raise NoStandingBid() from error


def _open(offer: DemandOffer, now: datetime) -> None:
    if not offer.is_open_for_bids(now):
        raise BiddingClosed()


def _audit(session: Session, action: str, user: User, bid: Bid) -> None:
    record(
        session,
        action,
        actor=user,
        group=bid.offer.group,
        number=bid.offer.number,
        partner=bid.partner,
        offer=bid.offer,
    )


def _save(
    session: Session,
    user: User,
    partner: PartnerCompany,
    offer: DemandOffer,
    values: BidValues,
    event: BidEvent,
    now: datetime,
) -> Bid:
    _invitation_locked(session, offer, partner)
    _open(offer, now)
    bid = bid_of(session, offer, partner)
    status = _step(bid, event)
    checked = _check_bid(session, offer, values)
    if bid is None:
        bid = Bid(offer=offer, partner=partner, created_at=now)
        session.add(bid)
    for name, value in checked.items():
        setattr(bid, name, value)
    bid.status = status
    bid.decline_reason = ""
    bid.submitted_by_id = user.id
    bid.updated_at = now
    session.flush()
    _audit(session, "bid.submitted" if event == BidEvent.SUBMIT else "bid.edited", user, bid)
    events.bid_changed.send(bid, session=session)
    return bid


def submit_bid(session: Session, user: User, partner, offer, values: BidValues, *, now=None):
    """The company's bid: once (again only after withdrawing or declining), until the deadline."""
    return _save(session, user, partner, offer, values, BidEvent.SUBMIT, now or utcnow())


def update_bid(session: Session, user: User, partner, offer, values: BidValues, *, now=None):
    """A standing bid, changed until the deadline."""
    return _save(session, user, partner, offer, values, BidEvent.EDIT, now or utcnow())


def withdraw_bid(
    session: Session, user: User, partner: PartnerCompany, offer: DemandOffer, *, now=None
) -> Bid:
    now = now or utcnow()
    _invitation_locked(session, offer, partner)
    _open(offer, now)
    bid = bid_of(session, offer, partner)
    bid.status = _step(bid, BidEvent.WITHDRAW)
    bid.updated_at = now
    session.flush()
    _audit(session, "bid.withdrawn", user, bid)
    events.bid_changed.send(bid, session=session)
    return bid


def decline_offer(
    session: Session,
    user: User,
    partner: PartnerCompany,
    offer: DemandOffer,
    reason: str = "",
    *,
    now=None,
) -> Bid:
    """The company chooses not to bid: recorded, with its reason if it gives one."""
    now = now or utcnow()
    _invitation_locked(session, offer, partner)
    _open(offer, now)
    try:
        reason = clean_paragraphs(reason, max_length=REASON_MAX)
    except InvalidText as error:
        raise InvalidBid({"reason": str(error.message)}) from error
    bid = bid_of(session, offer, partner)
    if bid is not None and bid.status == BidStatus.DECLINED:
        bid.decline_reason = reason  # a second thought on the reason only
    else:
        try:
            status = next_bid_status(bid.status if bid else None, BidEvent.DECLINE)
        except InvalidBidTransition as error:
            raise StandingBid() from error  # a bid is never dropped by a decline
        if bid is None:
            bid = Bid(offer=offer, partner=partner, currency=offer.currency, created_at=now)
            session.add(bid)
        bid.status = status
        bid.decline_reason = reason
    bid.submitted_by_id = user.id
    bid.updated_at = now
    session.flush()
    _audit(session, "bid.declined", user, bid)
    events.bid_changed.send(bid, session=session)
    return bid


def _lock_offer(session: Session, offer: DemandOffer) -> None:
    """Lock the offer's row (PostgreSQL) and read it afresh, so that two admins deciding,
    scoring or opening a vote at once queue: the second sees what the first did."""
    session.scalar(
        select(DemandOffer)
        .where(DemandOffer.id == offer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def bids_on(session: Session, offer: DemandOffer) -> list[Bid]:
    """Every answer of the invited companies, standing bids first, then by company name."""
    found = session.scalars(
        select(Bid)
        .options(
            joinedload(Bid.partner).joinedload(PartnerCompany.company), selectinload(Bid.scores)
        )
        .where(Bid.offer_id == offer.id)
    ).all()
    return sorted(found, key=lambda b: (not b.standing, b.partner.name.lower(), b.id))


def standing_bid_count(session: Session, offer: DemandOffer) -> int:
    return len([b for b in bids_on(session, offer) if b.standing])


@dataclass(frozen=True)
class Comparison:
    ranked: list[Ranked]
    bids: dict[int, Bid]
    winner: int | None
    nudges: list[Nudge]
    weights: dict[str, int]
    unscored: list[str]  # hand-scored criteria some standing bid lacks a score on


def compare(session: Session, offer: DemandOffer) -> Comparison:
    standing = [b for b in bids_on(session, offer) if b.standing]
    weights = {c["key"]: c["weight"] for c in offer.criteria if c["weight"] > 0}
    facts = [
        BidFacts(
            key=bid.id,
            price=bid.price,
            warranty_months=bid.warranty_months or 0,
            manual={score.criterion: score.score for score in bid.scores},
        )
        for bid in standing
    ]
    ranked, winner, nudges = rank(facts, weights, offer.price_basis)
    unscored = [
        key for key in weights if key not in COMPUTED and any(key not in f.manual for f in facts)
    ]
    return Comparison(ranked, {b.id: b for b in standing}, winner, nudges, weights, unscored)


def hand_scored(offer: DemandOffer) -> list[str]:
    return [c["key"] for c in offer.criteria if c["weight"] > 0 and c["key"] not in COMPUTED]


def score_bids(
    session: Session, admin: User, offer: DemandOffer, scores: dict[int, dict[str, int | None]]
) -> int:
    """The admins' scores of the criteria no number of a bid gives, once bidding closed.

    ``None`` clears a score. Returns how many scores changed (none: nothing recorded).
    """
    _lock_offer(session, offer)
    close_if_due(session, offer, utcnow())
    if offer.status != OfferStatus.CLOSED:
        raise NotDecidable()
    if open_award_vote(session, offer) is not None:
        raise VoteRunning()  # the ranking members vote on stays as they saw it
    standing = {b.id: b for b in bids_on(session, offer) if b.standing}
    criteria = set(hand_scored(offer))
    for bid_id, given in scores.items():
        if bid_id not in standing:
            raise NotAStandingBid()
        for criterion, score in given.items():
            if criterion not in criteria or (score is not None and not _whole(score, 0, 100)):
                raise InvalidScore()
    changed = 0
    for bid_id, given in scores.items():
        bid = standing[bid_id]
        for criterion, score in given.items():
            row = next((s for s in bid.scores if s.criterion == criterion), None)
            if row is not None and score is None:
                bid.scores.remove(row)
                session.delete(row)
            elif score is not None and (row is None or row.score != score):
                if row is None:
                    row = BidScore(bid=bid, criterion=criterion)
                    session.add(row)
                row.score = score
                row.scored_by_id = admin.id
                row.scored_at = utcnow()
            else:
                continue
            changed += 1
    if changed:
        record(
            session, "bid.scored", actor=admin, group=offer.group, number=offer.number, offer=offer
        )
    session.flush()
    return changed


def admins_accept(charter) -> bool:
    return charter["partners.accept_bids"] == "admins"


def open_award_vote(session: Session, offer: DemandOffer) -> Proposal | None:
    return session.scalar(
        select(Proposal).where(
            Proposal.group_id == offer.group_id,
            Proposal.kind == "accept_bid",
            Proposal.status == ProposalStatus.OPEN,
            Proposal.payload["offer_id"].as_integer() == offer.id,
        )
    )


def decision_day(session: Session, offer: DemandOffer, by_admins: bool) -> date:
    """The day an accepted bid must still hold: today, or the day a vote opened now ends."""
    today = utcnow()
    if by_admins:
        return today.date()
    days = current_charter(session, offer.group)["decisions.voting_days"]
    return (today + timedelta(days=days)).date()


def _choosable(session: Session, offer: DemandOffer, bid_id, until: datetime) -> Bid | None:
    """The bid to accept (None: no award), if the group may still choose it."""
    _lock_offer(session, offer)
    close_if_due(session, offer, utcnow())
    if offer.status != OfferStatus.CLOSED:
        raise NotDecidable()
    if bid_id is None:
        return None
    bid = session.get(Bid, bid_id) if _whole(bid_id, 1, 2**63) else None
    if bid is None or bid.offer_id != offer.id or not bid.standing:
        raise NotAStandingBid()
    if bid.valid_until < until.date():
        raise BidExpired(bid.valid_until)
    return bid


def _award(session: Session, offer: DemandOffer, bid: Bid | None, now: datetime) -> None:
    offer.status = next_offer_status(
        offer.status, OfferEvent.AWARD if bid else OfferEvent.AWARD_NONE
    )
    offer.awarded_partner_id = bid.partner_id if bid else None
    offer.decided_at = now
    session.flush()
    events.offer_decided.send(offer, session=session)
    if bid is not None:
        open_deal(session, offer, bid, now)


def _payload(offer: DemandOffer, bid: Bid | None) -> dict:
    return {
        "offer_id": offer.id,
        "number": offer.number,
        "title": offer.title,
        "bid_id": bid.id if bid else None,
        "company": bid.partner.name if bid else None,
    }


def decide_by_admin(
    session: Session, admin: User, offer: DemandOffer, bid_id: int | None, *, now=None
) -> Proposal:
    """An admin accepts a bid, or none, where the charter lets admins: recorded as a decision."""
    now = now or utcnow()
    if not admins_accept(current_charter(session, offer.group)):
        raise AcceptedByVote()
    bid = _choosable(session, offer, bid_id, now)
    if open_award_vote(session, offer) is not None:
        raise VoteRunning()  # the charter changed while members vote: their vote decides
    decision = record_admin_decision(
        session,
        admin,
        offer.group,
        kind="accept_bid",
        title=offer.title,
        payload=_payload(offer, bid),
    )
    _award(session, offer, bid, now)
    record(
        session,
        "offer.awarded" if bid else "offer.not_awarded",
        actor=admin,
        group=offer.group,
        number=offer.number,
        partner=bid.partner if bid else None,
        offer=offer,
        company=bid.partner.name if bid else None,
        proposal=decision.number,
    )
    return decision


def propose_award(
    session: Session, author: User, offer: DemandOffer, bid_id: int | None, *, now=None
) -> Proposal:
    """Put accepting a bid (or none) to the members' vote, where the charter says so."""
    now = now or utcnow()
    charter = current_charter(session, offer.group)
    if admins_accept(charter):
        raise AcceptedByAdmins()
    bid = _choosable(session, offer, bid_id, now + timedelta(days=charter["decisions.voting_days"]))
    if bid is None:
        title = str(_l("Accept no bid on offer %(number)s", number=offer.number))
        description = str(_l("The group would award no bid: no deal follows this offer."))
    else:
        title = str(_l("Accept the bid of %(company)s", company=bid.partner.name))
        description = str(
            _l(
                "Accept the bid of %(company)s on offer %(number)s, “%(title)s”.",
                company=bid.partner.name,
                number=offer.number,
                title=offer.title,
            )
        )
    return open_proposal(
        session,
        author,
        offer.group,
        kind="accept_bid",
        title=title,
        description=description,
        payload={"offer_id": offer.id, "bid_id": bid.id if bid else None},
        now=now,
    )


def _offer_of(session: Session, group: Group, payload: dict) -> DemandOffer:
    offer_id = payload.get("offer_id")
    offer = session.get(DemandOffer, offer_id) if _whole(offer_id, 1, 2**63) else None
    if offer is None or offer.group_id != group.id:
        raise NotDecidable()
    return offer


def prepare_award_vote(session: Session, group: Group, payload: dict) -> dict:
    """An accept-bid vote (``governance.kinds``): one at a time per offer."""
    offer = _offer_of(session, group, payload)
    bid = _choosable(session, offer, payload.get("bid_id"), utcnow())
    if open_award_vote(session, offer) is not None:
        raise VoteRunning()
    return _payload(offer, bid)


def award_by_vote(session: Session, group: Group, proposal: Proposal) -> None:
    """The vote passed: the bid is accepted, if it still can be (else the outcome says why)."""
    offer = _offer_of(session, group, proposal.payload)
    now = utcnow()
    bid = _choosable(session, offer, proposal.payload.get("bid_id"), now)
    _award(session, offer, bid, now)
    record(
        session,
        "offer.awarded" if bid else "offer.not_awarded",
        group=group,
        number=offer.number,
        partner=bid.partner if bid else None,
        offer=offer,
        company=bid.partner.name if bid else None,
        proposal=proposal.number,
    )


def awarded_bid(session: Session, offer: DemandOffer) -> Bid | None:
    if offer.awarded_partner_id is None:
        return None
    return session.scalar(
        select(Bid).where(Bid.offer_id == offer.id, Bid.partner_id == offer.awarded_partner_id)
    )
