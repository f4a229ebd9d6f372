"""Kinds of proposal: what each carries and what happens when it passes.

A kind is one ``ProposalKind`` in ``KINDS``: how to check the payload when the
proposal opens, what passing does (inside the closing transaction, so it
happens with the outcome or not at all), and how its payload reads. The
tally knows nothing of kinds, so a new kind (accepting a bid, spending the
reserve) is one more entry here.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from tecopio.governance.charter import BY_PATH, plain_value
from tecopio.governance.models import Adoption, Proposal
from tecopio.governance.services import (
    NothingChanged,
    adopt,
    build_charter,
    current_charter,
)
from tecopio.groups.models import Group


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
    charter = build_charter(session, current_charter(session, group), proposal.payload["changes"])
    version = adopt(
        session,
        group,
        charter,
        adoption=Adoption.VOTE,
        actor=None,
        reason=f"#{proposal.id} {proposal.title}",
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


register(
    ProposalKind(
        "charter",
        _l("Change the charter"),
        _prepare_charter_change,
        _adopt_charter_change,
        _describe_charter_change,
    )
)
register(ProposalKind("motion", _l("General motion"), _nothing, _no_effect, _no_details))
