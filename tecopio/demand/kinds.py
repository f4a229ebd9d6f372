"""Proposal kinds of demand offers: publishing one ("offer") and accepting a bid, or none
("accept_bid")."""

from flask_babel import lazy_gettext as _l

from tecopio.demand.bids import award_by_vote, prepare_award_vote
from tecopio.demand.services import prepare_offer_vote, publish_by_vote, reject_by_vote
from tecopio.governance.kinds import KINDS, ProposalKind, register
from tecopio.governance.models import ProposalStatus


def _describe_offer(proposal, _category_label) -> list[tuple[str, str]]:
    payload = proposal.payload
    return [(str(_l("Demand offer")), f"{payload.get('number')}: {payload.get('title', '')}")]


def _describe_award(proposal, category_label) -> list[tuple[str, str]]:
    payload = proposal.payload
    company = payload.get("company")
    return [
        *_describe_offer(proposal, category_label),
        (str(_l("Bid accepted")), company if company else str(_l("none: no award"))),
    ]


def _award_title(proposal) -> str:
    payload = proposal.payload
    company, number = payload.get("company"), payload.get("number")
    if proposal.status == ProposalStatus.DECIDED:
        if company:
            return str(_l("Bid of %(company)s accepted", company=company))
        return str(_l("No bid accepted on offer %(number)s", number=number))
    if company:
        return str(_l("Accept the bid of %(company)s", company=company))
    return str(_l("Accept no bid on offer %(number)s", number=number))


def register_kinds() -> None:
    if "offer" not in KINDS:
        register(
            ProposalKind(
                "offer",
                _l("Publish a demand offer"),
                prepare_offer_vote,
                publish_by_vote,
                _describe_offer,
                carry_out_rejection=reject_by_vote,
            )
        )
    if "accept_bid" not in KINDS:
        register(
            ProposalKind(
                "accept_bid",
                _l("Accept a bid"),
                prepare_award_vote,
                award_by_vote,
                _describe_award,
                system_title=_award_title,
            )
        )
