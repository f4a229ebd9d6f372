"""Kinds of proposal: what each carries and what happens when it passes.

A kind is one ``ProposalKind`` in ``KINDS``: how to check the payload when the
proposal opens, what passing does (inside the closing transaction, so it
happens with the outcome or not at all), and how its payload reads. The
tally knows nothing of kinds, so a new kind (accepting a bid, spending the
reserve) is one more entry here.
"""

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecopio.governance.charter import BY_PATH, diff, plain_value
from tecopio.governance.charters import (
    GovernanceError,
    NothingChanged,
    adopt,
    build_charter,
    current_charter,
)
from tecopio.governance.models import Adoption, Proposal, ProposalStatus
from tecopio.groups.models import Group, Membership, MembershipStatus
from tecopio.groups.services import admit_by_decision


class NoSuchRequest(GovernanceError):
    message = _l("There is no such request to join waiting.")


class AlreadyProposed(GovernanceError):
    message = _l("This request to join is already put to a vote.")


@dataclass(frozen=True)
class ProposalKind:
    name: str
    label: object  # lazy string
    # (session, group, payload as submitted) -> payload to store; raises GovernanceError.
    prepare: Callable[[Session, Group, dict], dict]
    # (session, group, proposal) -> None; runs when the proposal passes.
    carry_out: Callable[[Session, Group, Proposal], None]
    # (proposal, category label) -> [(what, value)] for the proposal's page.
    describe: Callable[[Proposal, Callable[[str], str]], list[tuple[str, str]]]
    # (session, group, proposal) -> None; runs when the proposal does not pass.
    carry_out_rejection: Callable[[Session, Group, Proposal], None] = lambda *_args: None
    # (proposal) -> the title in the reader's language, for proposals the system titled;
    # None keeps the title the author wrote.
    system_title: Callable[[Proposal], str | None] = lambda _proposal: None


def _prepare_charter_change(session: Session, group: Group, payload: dict) -> dict:
    """Only the rules that change, each checked against the schema and the charter in force."""
    charter = current_charter(session, group)
    changes = payload.get("changes") or {}
    proposed = build_charter(session, charter, changes)
    changed = {
        path: (list(value) if isinstance(value, tuple) else value)
        for path, value in proposed.values.items()
        if value != charter[path]
    }
    if not changed:
        raise NothingChanged()
    return {"changes": changed}


def _adopt_charter_change(session: Session, group: Group, proposal: Proposal) -> None:
    """The charter in force at the close, with the proposal's changes: the next version."""
    in_force = current_charter(session, group)
    charter = build_charter(session, in_force, proposal.payload["changes"])
    if not diff(in_force, charter):
        raise NothingChanged()  # the rules it asks for came into force meanwhile
    version = adopt(
        session,
        group,
        charter,
        adoption=Adoption.VOTE,
        actor=None,
        reason=f"#{proposal.number} {proposal.title}",
    )
    proposal.result_version_id = version.id


def _describe_charter_change(proposal: Proposal, category_label) -> list[tuple[str, str]]:
    return [
        (str(BY_PATH[path].label), plain_value(BY_PATH[path], value, category_label))
        for path, value in proposal.payload["changes"].items()
        if path in BY_PATH
    ]


def _nothing(*_args) -> dict:
    return {}


def _no_effect(*_args) -> None:
    """A motion records the members' view; passing it changes nothing by itself."""


def _no_details(*_args) -> list:
    return []


KINDS: dict[str, ProposalKind] = {}


def register(kind: ProposalKind) -> None:
    KINDS[kind.name] = kind


def _charter_title(proposal: Proposal) -> str | None:
    """An admin's direct change is titled by the system; a member's proposal by its author."""
    if proposal.status == ProposalStatus.DECIDED:
        return str(_l("Charter changed by an admin"))
    return None


register(
    ProposalKind(
        "charter",
        _l("Change the charter"),
        _prepare_charter_change,
        _adopt_charter_change,
        _describe_charter_change,
        system_title=_charter_title,
    )
)
register(ProposalKind("motion", _l("General motion"), _nothing, _no_effect, _no_details))


def _pending_request(session: Session, group: Group, membership_id) -> Membership:
    membership = session.get(Membership, membership_id) if isinstance(membership_id, int) else None
    if (
        membership is None
        or membership.group_id != group.id
        or membership.status != MembershipStatus.PENDING
    ):
        raise NoSuchRequest()
    return membership


def _prepare_admission(session: Session, group: Group, payload: dict) -> dict:
    """A pending request to join, not already put to a vote."""
    membership = _pending_request(session, group, payload.get("membership_id"))
    already = session.scalar(
        select(Proposal.id).where(
            Proposal.group_id == group.id,
            Proposal.kind == "admission",
            Proposal.status == ProposalStatus.OPEN,
            Proposal.payload["membership_id"].as_integer() == membership.id,
        )
    )
    if already is not None:
        raise AlreadyProposed()
    return {"membership_id": membership.id, "name": membership.user.display_name}


def _admit(session: Session, group: Group, proposal: Proposal) -> None:
    membership = _pending_request(session, group, proposal.payload["membership_id"])
    admit_by_decision(session, membership, admitted=True)


def _decline(session: Session, group: Group, proposal: Proposal) -> None:
    with suppress(NoSuchRequest):  # withdrawn meanwhile: nothing to decline
        membership = _pending_request(session, group, proposal.payload["membership_id"])
        admit_by_decision(session, membership, admitted=False)


def _describe_admission(proposal: Proposal, _category_label) -> list[tuple[str, str]]:
    lines = [(str(_l("Person asking to join")), proposal.payload["name"])]
    if "admitted" in proposal.payload:  # decided by an admin
        answer = _l("admitted") if proposal.payload["admitted"] else _l("declined")
        lines.append((str(_l("Decision")), str(answer)))
    return lines


def _admission_title(proposal: Proposal) -> str:
    name = proposal.payload.get("name") or str(_l("a former member"))
    if "admitted" in proposal.payload:  # decided by an admin
        return str(_l("Request to join of %(name)s", name=name))
    return str(_l("Admit %(name)s", name=name))


register(
    ProposalKind(
        "admission",
        _l("Admit a member"),
        _prepare_admission,
        _admit,
        _describe_admission,
        carry_out_rejection=_decline,
        system_title=_admission_title,
    )
)


def title_of(proposal: Proposal) -> str:
    """What a proposal is called on a page or in a notice, in the reader's language.

    The system's own titles ("Admit Jon") are written when shown, from the
    proposal's kind and payload; what is stored is their first wording only.
    """
    kind = KINDS.get(proposal.kind)
    return (kind.system_title(proposal) if kind else None) or proposal.title
