"""The proposal kind "offer": members vote on publishing a demand offer."""

from flask_babel import lazy_gettext as _l

from tecopio.demand.services import prepare_offer_vote, publish_by_vote, reject_by_vote
from tecopio.governance.kinds import KINDS, ProposalKind, register


def _describe_offer(proposal, _category_label) -> list[tuple[str, str]]:
    payload = proposal.payload
    return [(str(_l("Demand offer")), f"{payload.get('number')}: {payload.get('title', '')}")]


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
