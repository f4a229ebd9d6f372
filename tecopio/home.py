"""The home page: what Tecopio is, or the signed-in person's home.

A member's home says first what waits on them (votes with their deadlines,
requests to join in the groups they admin, invitations), then the first
steps while they are new (record, share, see the figures), then each of
their groups with its counts and recent decisions. A handful of queries
whatever the number of groups.
"""

from dataclasses import dataclass

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from tecopio import policy
from tecopio.analytics.cache import latest_releases
from tecopio.db import db
from tecopio.directory import services as directory
from tecopio.governance.decisions import recent_proposals, votes_waiting_on
from tecopio.groups import services as groups
from tecopio.guards import platform, public
from tecopio.ledger.stripe_payments import events_for_review
from tecopio.memberdata.services import record_count
from tecopio.partners.services import companies_of, unverified_companies
from tecopio.privacy.services import current_consents

bp = Blueprint("home", __name__)


@dataclass
class FirstSteps:
    """A new member's way in: each step done or not, and the group to take it in."""

    joined: bool
    recorded: bool
    shared: bool
    group: object | None

    @property
    def done(self) -> bool:
        return self.joined and self.recorded and self.shared

    @property
    def count_done(self) -> int:
        return sum((self.joined, self.recorded, self.shared))


def _home(user):
    memberships = groups.memberships_of_user(db.session, user)
    active = [m for m in memberships if m.is_active]
    group_ids = [m.group_id for m in active]
    administered = [m.group for m in active if m.is_admin]
    steps = FirstSteps(
        joined=bool(active),
        recorded=record_count(db.session, user) > 0,
        shared=any(granted for granted in current_consents(db.session, user).values()),
        group=active[0].group if active else None,
    )
    return render_template(
        "dashboard.html",
        memberships=memberships,
        waiting=groups.pending_request_counts(db.session, administered),
        votes=votes_waiting_on(db.session, user),
        invitations=[
            (invitation, groups.invitation_token(invitation, current_app.config["SECRET_KEY"]))
            for invitation in groups.invitations_for(db.session, user)
        ],
        steps=steps,
        member_counts=groups.active_member_counts(db.session, group_ids),
        proposals=recent_proposals(db.session, group_ids),
        releases=latest_releases(db.session, group_ids),
        companies=companies_of(db.session, user),
    )


@bp.get("/")
@public
def index():
    if not current_user.is_authenticated:
        return render_template("home.html")
    return _home(current_user)


@bp.get("/admin/")
@platform(policy.can_operate_platform)
def operator():
    companies = directory.active_companies(db.session)
    return render_template(
        "operator.html",
        company_count=len(companies),
        duplicates=directory.possible_duplicates(companies),
        unverified=unverified_companies(db.session),
        provider_events=events_for_review(db.session),
    )


def init_app(app) -> None:
    app.register_blueprint(bp)
