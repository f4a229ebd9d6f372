"""Proposals, votes and their close: how a group decides.

Who may vote: members active since before the proposal opened (joining a
group after a proposal opened gives no say on it). The quorum is a share of
those members still active at the close; every vote (abstentions too) counts
towards it, and the threshold is a share of the yes and no votes (and of
abstentions, where the charter says so). The rules are those of the charter
version in force when the proposal opened, whatever happens to the charter
meanwhile. A proposal closes when it is read after its closing time, or when
``flask proposals close-due`` runs (for a scheduler).
"""

from contextlib import suppress
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, joinedload

from tecopio import events, jobs
from tecopio.accounts.models import User
from tecopio.audit.services import record
from tecopio.db import utcnow
from tecopio.governance.charters import (
    GovernanceError,
    change_by_admin,
    charter_of,
    current_charter,
    current_version,
    electorate,
)
from tecopio.governance.kinds import KINDS
from tecopio.governance.models import Proposal, ProposalComment, ProposalStatus, Vote, VoteChoice
from tecopio.governance.tally import Tally, rules_tally
from tecopio.groups.models import Group, Membership, MembershipStatus
from tecopio.groups.services import approve_member, reject_member
from tecopio.text import clean_line, clean_paragraphs

TITLE_MAX = 200
DESCRIPTION_MAX = 8000
COMMENT_MAX = 4000
REMINDER_BEFORE = timedelta(days=1)
CLOSE_JOB = "proposals.close"  # closes a proposal at its time (``jobs.py``)


class NotEligible(GovernanceError):
    message = _l("Only members who were in the group when the proposal opened vote on it.")


class VotingClosed(GovernanceError):
    message = _l("Voting on this proposal has closed.")


class AlreadyClosed(GovernanceError):
    message = _l("This proposal is already closed.")


class CannotWithdraw(GovernanceError):
    message = _l("Only its author may withdraw a proposal, and only before anyone votes.")


class UnknownKind(GovernanceError):
    message = _l("There is no such kind of proposal.")


class AdmissionByAdmins(GovernanceError):
    message = _l("The charter says the group's admins decide requests to join.")


class AdmissionByVote(GovernanceError):
    message = _l("The charter says requests to join are decided by a vote of the members.")


class EmptyComment(GovernanceError):
    message = _l("Write your comment first.")


def votes_waiting_on(session: Session, user: User, now: datetime | None = None) -> list[Proposal]:
    """Open proposals the person may vote on and has not, soonest to close first (one query)."""
    voted = select(Vote.id).where(Vote.proposal_id == Proposal.id, Vote.user_id == user.id)
    return list(
        session.scalars(
            select(Proposal)
            .join(
                Membership,
                and_(
                    Membership.user_id == user.id,
                    Membership.group_id == Proposal.group_id,
                    Membership.status == MembershipStatus.ACTIVE,
                    Membership.active_since <= Proposal.opens_at,
                ),
            )
            .where(
                Proposal.status == ProposalStatus.OPEN,
                Proposal.closes_at > (now or utcnow()),
                ~voted.exists(),
            )
            .options(joinedload(Proposal.group))
            .order_by(Proposal.closes_at)
        )
    )


def open_charter_changes(session: Session, group: Group) -> dict[str, list[Proposal]]:
    """Open proposals to change the charter, by the rules they would change."""
    found: dict[str, list[Proposal]] = {}
    for proposal in session.scalars(
        select(Proposal)
        .where(
            Proposal.group_id == group.id,
            Proposal.kind == "charter",
            Proposal.status == ProposalStatus.OPEN,
        )
        .order_by(Proposal.number)
    ):
        for path in proposal.payload.get("changes", {}):
            found.setdefault(path, []).append(proposal)
    return found


def recent_proposals(session: Session, group_ids: list[int], per_group: int = 3):
    """The latest proposals of each group, newest first: ``{group_id: [proposal, ...]}``."""
    if not group_ids:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=Proposal.group_id, order_by=(Proposal.opens_at.desc(), Proposal.id.desc())
        )
        .label("rank")
    )
    ranked = select(Proposal.id, rank).where(Proposal.group_id.in_(group_ids)).subquery()
    proposals = session.scalars(
        select(Proposal)
        .join(ranked, ranked.c.id == Proposal.id)
        .where(ranked.c.rank <= per_group)
        .order_by(Proposal.opens_at.desc(), Proposal.id.desc())
    )
    found: dict[int, list[Proposal]] = {}
    for proposal in proposals:
        found.setdefault(proposal.group_id, []).append(proposal)
    return found


def may_vote(session: Session, user: User, proposal: Proposal) -> bool:
    return (
        session.scalar(
            select(Membership.id).where(
                Membership.user_id == user.id, *electorate(proposal.group_id, proposal.opens_at)
            )
        )
        is not None
    )


def open_proposal(
    session: Session,
    author: User,
    group: Group,
    *,
    kind: str,
    title: str,
    description: str,
    payload: dict | None = None,
    now: datetime | None = None,
) -> Proposal:
    """Open a proposal for the charter's voting period. (That the author is a member is policy.)"""
    if kind not in KINDS:
        raise UnknownKind()
    if kind == "admission" and admins_admit(current_charter(session, group)):
        raise AdmissionByAdmins()
    now = now or utcnow()
    title = clean_line(title, max_length=TITLE_MAX)
    description = clean_paragraphs(description, max_length=DESCRIPTION_MAX)
    prepared = KINDS[kind].prepare(session, group, payload or {})
    version = current_version(session, group.id)
    days = current_charter(session, group)["decisions.voting_days"]
    proposal = Proposal(
        group_id=group.id,
        number=_next_number(session, group),
        author_id=author.id,
        kind=kind,
        title=title,
        description=description,
        payload=prepared,
        charter_version_id=version.id,
        opens_at=now,
        closes_at=now + timedelta(days=days),
    )
    session.add(proposal)
    session.flush()
    record(
        session,
        "proposal.opened",
        actor=author,
        group=group,
        proposal=proposal.id,
        number=proposal.number,
        kind=kind,
    )
    events.proposal_opened.send(proposal, session=session)
    jobs.enqueue_after_commit(session, CLOSE_JOB, proposal.id, eta=proposal.closes_at)
    return proposal


def _next_number(session: Session, group: Group) -> int:
    """The group's next proposal number; its row lock (PostgreSQL) orders concurrent openings,
    and the unique (group, number) index refuses a number given twice."""
    session.execute(select(Group.id).where(Group.id == group.id).with_for_update())
    highest = session.scalar(select(func.max(Proposal.number)).where(Proposal.group_id == group.id))
    return (highest or 0) + 1


def _locked(session: Session, proposal: Proposal) -> Proposal:
    """The proposal's row, locked (PostgreSQL) and read again, so closes and votes queue."""
    session.execute(select(Proposal.id).where(Proposal.id == proposal.id).with_for_update())
    session.refresh(proposal)
    return proposal


def current_tally(session: Session, proposal: Proposal) -> Tally:
    """Votes of the members who may vote, under the rules the proposal opened with."""
    eligible = electorate(proposal.group_id, proposal.opens_at)
    size = session.scalar(select(func.count(Membership.id)).where(*eligible))
    counts = session.execute(
        select(
            *(func.coalesce(func.sum(case((Vote.choice == c, 1), else_=0)), 0) for c in VoteChoice)
        )
        .join(Membership, Membership.user_id == Vote.user_id)
        .where(Vote.proposal_id == proposal.id, *eligible)
    ).one()
    charter = charter_of(proposal.charter_version)
    yes, no, abstain = (int(counts[i]) for i, _choice in enumerate(VoteChoice))
    return rules_tally(charter, yes, no, abstain, size)


def close_proposal(session: Session, proposal: Proposal, now: datetime | None = None) -> Proposal:
    """Count, record the outcome, and carry out a passing proposal, all in one transaction."""
    proposal = _locked(session, proposal)
    if proposal.status != ProposalStatus.OPEN:
        raise AlreadyClosed()
    group = session.get(Group, proposal.group_id)
    tally = current_tally(session, proposal)
    proposal.yes, proposal.no, proposal.abstain = tally.yes, tally.no, tally.abstain
    proposal.electorate = tally.electorate
    proposal.quorum_reached = tally.quorum_reached
    proposal.closed_at = now or utcnow()
    proposal.status = ProposalStatus.PASSED if tally.passed else ProposalStatus.REJECTED
    kind = KINDS[proposal.kind]
    effect = kind.carry_out if tally.passed else kind.carry_out_rejection
    try:
        with session.begin_nested():
            effect(session, group, proposal)
    except GovernanceError as error:
        # Decided, but what it asks can no longer be done (a later change made it moot).
        proposal.outcome_note = str(error.message)
    record(
        session,
        "proposal.closed",
        group=group,
        proposal=proposal.id,
        number=proposal.number,
        status=str(proposal.status),
        yes=tally.yes,
        no=tally.no,
        abstain=tally.abstain,
        electorate=tally.electorate,
    )
    session.flush()
    return proposal


def close_if_due(session: Session, proposal: Proposal, now: datetime | None = None) -> Proposal:
    """Close the proposal if its time has come (by its job, or before a vote is counted)."""
    now = now or utcnow()
    if proposal.status == ProposalStatus.OPEN and proposal.closes_at <= now:
        with suppress(AlreadyClosed):  # a concurrent reader closed it first
            close_proposal(session, proposal, now)
    return proposal


def close_due_proposals(
    session: Session, now: datetime | None = None, group: Group | None = None
) -> int:
    """Close every proposal (of ``group``, or of all groups) whose time has come; how many."""
    now = now or utcnow()
    statement = select(Proposal).where(
        Proposal.status == ProposalStatus.OPEN, Proposal.closes_at <= now
    )
    if group is not None:
        statement = statement.where(Proposal.group_id == group.id)
    due = session.scalars(statement.order_by(Proposal.id)).all()
    closed = 0
    for proposal in due:
        try:
            close_proposal(session, proposal, now)
            closed += 1
        except AlreadyClosed:
            continue
    return closed


def cast_vote(
    session: Session,
    user: User,
    proposal: Proposal,
    choice: str,
    now: datetime | None = None,
) -> Vote:
    """Vote, or change one's vote, until the close."""
    choice = VoteChoice(choice)
    proposal = _locked(session, proposal)
    close_if_due(session, proposal, now)
    if proposal.status != ProposalStatus.OPEN:
        raise VotingClosed()
    if not may_vote(session, user, proposal):
        raise NotEligible()
    vote = session.scalar(
        select(Vote).where(Vote.proposal_id == proposal.id, Vote.user_id == user.id)
    )
    if vote is None:
        vote = Vote(proposal_id=proposal.id, user_id=user.id, choice=choice)
        session.add(vote)
    else:
        vote.choice = choice
    session.flush()
    events.vote_cast.send(proposal, session=session, user=user)
    return vote


def vote_count(session: Session, proposal: Proposal) -> int:
    """Every vote cast, even of members who left since (a proposal with votes stays)."""
    return session.scalar(select(func.count(Vote.id)).where(Vote.proposal_id == proposal.id))


def vote_of(session: Session, user: User, proposal: Proposal) -> Vote | None:
    return session.scalar(
        select(Vote).where(Vote.proposal_id == proposal.id, Vote.user_id == user.id)
    )


def may_withdraw(session: Session, user: User, proposal: Proposal) -> bool:
    """Its author may withdraw a proposal while it is open and before anyone votes."""
    return (
        proposal.status == ProposalStatus.OPEN
        and proposal.author_id == user.id
        and not vote_count(session, proposal)
    )


def withdraw(session: Session, user: User, proposal: Proposal) -> Proposal:
    proposal = _locked(session, proposal)
    if not may_withdraw(session, user, proposal):
        raise CannotWithdraw()
    proposal.status = ProposalStatus.WITHDRAWN
    proposal.closed_at = utcnow()
    record(
        session,
        "proposal.withdrawn",
        actor=user,
        group=session.get(Group, proposal.group_id),
        proposal=proposal.id,
        number=proposal.number,
    )
    session.flush()
    return proposal


def add_comment(session: Session, user: User, proposal: Proposal, body: str) -> ProposalComment:
    comment = ProposalComment(
        proposal_id=proposal.id,
        author_id=user.id,
        body=clean_paragraphs(body, max_length=COMMENT_MAX),
    )
    if not comment.body:
        raise EmptyComment()
    session.add(comment)
    session.flush()
    return comment


def proposals_of(session: Session, group: Group) -> list[Proposal]:
    """Open proposals first (closing soonest first), then the rest, newest first."""
    return list(
        session.scalars(
            select(Proposal)
            .where(Proposal.group_id == group.id)
            .order_by(
                case((Proposal.status == ProposalStatus.OPEN, 0), else_=1),
                case((Proposal.status == ProposalStatus.OPEN, Proposal.closes_at), else_=None),
                Proposal.id.desc(),
            )
        )
    )


def record_admin_decision(
    session: Session,
    admin: User,
    group: Group,
    *,
    kind: str,
    title: str,
    payload: dict,
    description: str = "",
) -> Proposal:
    """What admins decided directly, where the charter let them: in the decisions' history too."""
    now = utcnow()
    proposal = Proposal(
        group_id=group.id,
        number=_next_number(session, group),
        author_id=admin.id,
        kind=kind,
        title=clean_line(title, max_length=TITLE_MAX),
        description=clean_paragraphs(description, max_length=DESCRIPTION_MAX),
        payload=payload,
        charter_version_id=current_version(session, group.id).id,
        opens_at=now,
        closes_at=now,
        closed_at=now,
        status=ProposalStatus.DECIDED,
    )
    session.add(proposal)
    session.flush()
    return proposal


def change_charter_by_admin(
    session: Session, admin: User, group: Group, changes: dict, reason: str = ""
):
    """An admin's change to the charter (``services.change_by_admin``), recorded as a decision."""
    before = current_charter(session, group)
    version = change_by_admin(session, admin, group, changes, reason)
    changed = {
        path: (list(value) if isinstance(value, tuple) else value)
        for path, value in charter_of(version).values.items()
        if value != before[path]
    }
    proposal = record_admin_decision(
        session,
        admin,
        group,
        kind="charter",
        title=str(_l("Charter changed by an admin")),
        description=reason,
        payload={"changes": changed},
    )
    proposal.result_version_id = version.id
    return version


def admins_admit(charter) -> bool:
    return charter["membership.admission"] == "admins"


def admission_by_admin(session: Session, admin: User, membership, *, admitted: bool) -> None:
    """An admin approves or declines a request to join, where the charter lets admins admit."""
    group = membership.group
    if not admins_admit(current_charter(session, group)):
        raise AdmissionByVote()
    if admitted:
        approve_member(session, admin, membership)
    else:
        reject_member(session, admin, membership)
    record_admin_decision(
        session,
        admin,
        group,
        kind="admission",
        title=str(_l("Request to join of %(name)s", name=membership.user.display_name)),
        payload={
            "membership_id": membership.id,
            "name": membership.user.display_name,
            "admitted": admitted,
        },
    )


def open_admission_votes(session: Session, group: Group) -> dict[int, int]:
    """{membership id: proposal number} of the requests to join now put to a vote."""
    rows = session.execute(
        select(Proposal.number, Proposal.payload).where(
            Proposal.group_id == group.id,
            Proposal.kind == "admission",
            Proposal.status == ProposalStatus.OPEN,
        )
    )
    return {payload["membership_id"]: number for number, payload in rows}
