"""Decisions' part in a person's export and erasure (see ``tecopio/privacy/registry.py``)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, joinedload

from tecopio.accounts.models import User
from tecopio.governance.models import CharterVersion, Proposal, ProposalComment, Vote
from tecopio.groups.models import Group, Membership
from tecopio.privacy.registry import iso, register_personal_data


def export_charter_versions(session: Session, user: User) -> list[dict]:
    rows = session.execute(
        select(CharterVersion, Group.name)
        .join(Group, Group.id == CharterVersion.group_id)
        .where(CharterVersion.adopted_by_id == user.id)
        .order_by(CharterVersion.id)
    )
    return [
        {
            "id": v.id,
            "group": group,
            "number": v.number,
            "adoption": v.adoption.value,
            "reason": v.reason,
            "rules": v.rules,
            "created_at": iso(v.created_at),
        }
        for v, group in rows
    ]


def export_proposals(session: Session, user: User) -> list[dict]:
    proposals = session.scalars(
        select(Proposal)
        .where(Proposal.author_id == user.id)
        .options(joinedload(Proposal.group))
        .order_by(Proposal.id)
    )
    return [
        {
            "id": p.id,
            "group": p.group.name,
            "kind": p.kind,
            "title": p.title,
            "description": p.description,
            # A vote on someone's request to join names them: their name is theirs.
            "payload": {key: value for key, value in p.payload.items() if key != "name"},
            "status": p.status.value,
            "opened_at": iso(p.opens_at),
            "closes_at": iso(p.closes_at),
            "closed_at": iso(p.closed_at),
        }
        for p in proposals
    ]


def erase_proposals(session: Session, user: User) -> None:
    # Proposals stay as the group's record of its decisions, without their author.
    session.execute(update(Proposal).where(Proposal.author_id == user.id).values(author_id=None))


def export_votes(session: Session, user: User) -> list[dict]:
    rows = session.execute(
        select(Vote, Proposal.title)
        .join(Proposal, Proposal.id == Vote.proposal_id)
        .where(Vote.user_id == user.id)
        .order_by(Vote.id)
    )
    return [
        {
            "id": v.id,
            "proposal": title,
            "choice": v.choice.value,
            "cast_at": iso(v.cast_at),
            "at": iso(v.updated_at),
        }
        for v, title in rows
    ]


def erase_votes(session: Session, user: User) -> None:
    session.execute(delete(Vote).where(Vote.user_id == user.id))


def export_comments(session: Session, user: User) -> list[dict]:
    rows = session.execute(
        select(ProposalComment, Proposal.title)
        .join(Proposal, Proposal.id == ProposalComment.proposal_id)
        .where(ProposalComment.author_id == user.id)
        .order_by(ProposalComment.id)
    )
    return [
        {"id": c.id, "proposal": title, "text": c.body, "at": iso(c.created_at)}
        for c, title in rows
    ]


def erase_comments(session: Session, user: User) -> None:
    session.execute(delete(ProposalComment).where(ProposalComment.author_id == user.id))


def _admissions_of(session: Session, user: User) -> list[Proposal]:
    """Votes on the person's requests to join (their payload names the request and the person)."""
    memberships = set(session.scalars(select(Membership.id).where(Membership.user_id == user.id)))
    if not memberships:
        return []
    admissions = session.scalars(
        select(Proposal)
        .where(Proposal.kind == "admission")
        .options(joinedload(Proposal.group))
        .order_by(Proposal.id)
    )
    return [p for p in admissions if p.payload.get("membership_id") in memberships]


def export_admissions(session: Session, user: User) -> list[dict]:
    return [
        {
            "id": p.id,
            "group": p.group.name,
            "title": p.title,
            "status": p.status.value,
            "opened_at": iso(p.opens_at),
            "closed_at": iso(p.closed_at),
        }
        for p in _admissions_of(session, user)
    ]


def erase_admissions(session: Session, user: User) -> None:
    """Decisions on the person's requests to join stay, without their name."""
    for proposal in _admissions_of(session, user):
        proposal.payload = {**proposal.payload, "name": ""}
        proposal.title = str(_l("Request to join of a former member"))


def register() -> None:
    register_personal_data(
        "charter_versions",
        table="charter_versions",
        title=_l("Charter versions you adopted"),
        export=export_charter_versions,
        kept=_l("Charter versions you adopted, without your name: they are the group's rules."),
    )
    register_personal_data(
        "proposals",
        table="proposals",
        title=_l("Proposals you opened"),
        export=export_proposals,
        erase=erase_proposals,
        kept=_l(
            "Proposals you opened, without their author: they are the record of the "
            "group's decisions."
        ),
    )
    register_personal_data(
        "votes",
        table="votes",
        title=_l("Votes"),
        export=export_votes,
        erase=erase_votes,
        deleted=_l("Your votes. Votes that have closed keep their result."),
    )
    register_personal_data(
        "comments",
        table="proposal_comments",
        title=_l("Comments"),
        export=export_comments,
        erase=erase_comments,
        deleted=_l("Your comments on proposals."),
    )
    register_personal_data(
        "admissions",
        table="proposals",
        title=_l("Votes on your requests to join"),
        export=export_admissions,
        erase=erase_admissions,
        kept=_l(
            "Votes on your requests to join, without your name: they are the record of the "
            "group's decisions."
        ),
    )
