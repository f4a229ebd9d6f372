"""Decisions' jobs: a proposal closes at its time, without anyone reading it first.

Opening a proposal queues its close for its closing time; every minute a
periodic job also closes whatever is due (a close that was lost, or a
closing time moved). Both are idempotent: a proposal closes once.
"""

from tecopio import jobs
from tecopio.governance import decisions
from tecopio.governance.models import Proposal


def close_when_due(session, proposal_id: int) -> bool:
    """Close the proposal if its time has come; whether it is closed now."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:  # its group was deleted
        return True
    decisions.close_if_due(session, proposal)
    return not proposal.counting and proposal.status != "open"


def close_every_due(session) -> int:
    return decisions.close_due_proposals(session)


def init_app(app) -> None:
    jobs.register(app, decisions.CLOSE_JOB, close_when_due)
    jobs.register(app, "proposals.close_due", close_every_due, every_minutes=1)
