"""The demo data shows every part of the product that exists."""

import pytest
from sqlalchemy import select

from tecopio.accounts.passwords import check_password_policy
from tecopio.accounts.services import authenticate
from tecopio.analytics.cache import publish_if_due, released_page
from tecopio.analytics.queries import Filters, group_figures
from tecopio.categories.services import load_tree
from tecopio.db import utcnow
from tecopio.demand import bids, deals
from tecopio.demand.models import DealStatus
from tecopio.demand.services import invited_companies, offers_of
from tecopio.demo import (
    DEMO_ENERGY_SLUG,
    DEMO_PASSWORD,
    LATER_NEIGHBOURS,
    NEIGHBOURS,
    load_demo_data,
)
from tecopio.feed import services as feed
from tecopio.governance import decisions
from tecopio.governance.charters import current_charter, history
from tecopio.groups.models import (
    Group,
    Invitation,
    InvitationStatus,
    MembershipPolicy,
    MembershipStatus,
)
from tecopio.groups.services import list_memberships
from tecopio.ledger import services as money
from tecopio.ledger.posting import verify
from tecopio.memberdata.models import Feedback
from tecopio.partners.services import companies_of, unverified_companies

pytestmark = pytest.mark.usefixtures("app_ctx")


def test_demo_data_has_an_admin_members_an_applicant_and_an_invitation(db_session):
    people = load_demo_data(db_session)
    check_password_policy(DEMO_PASSWORD)
    assert authenticate(db_session, "ane@example.com", DEMO_PASSWORD) is people["ane"]
    groups = {
        current_charter(db_session, g).membership_policy: g
        for g in db_session.scalars(select(Group))
    }
    assert set(groups) == {policy.value for policy in MembershipPolicy}
    energy = groups[MembershipPolicy.APPROVAL]
    active = list_memberships(db_session, energy, MembershipStatus.ACTIVE)
    assert [m.user.display_name for m in active if m.is_admin] == ["Ane Etxeberria"]
    assert len(active) == 4 + len(NEIGHBOURS) + len(LATER_NEIGHBOURS)
    pending = list_memberships(db_session, energy, MembershipStatus.PENDING)
    assert [m.user.email for m in pending] == ["lucia@example.com"]
    invitations = db_session.scalars(
        select(Invitation).where(Invitation.email == people["lucia"].email)
    ).all()
    assert [(i.group, i.status) for i in invitations] == [
        (groups[MembershipPolicy.INVITATION], InvitationStatus.PENDING)
    ]


def test_demo_group_has_analytics_to_show(db_session):
    load_demo_data(db_session)
    energy = db_session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
    figures = group_figures(db_session, energy, Filters(), load_tree(db_session), "en")
    assert figures.demand.total.released and figures.demand.total.values["members"] >= 10
    assert any(row.released for row in figures.segments.rows)


def test_demo_load_command_refuses_a_database_with_data(app, make):
    make.user()
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code != 0
    assert "not empty" in result.output
    result = app.test_cli_runner().invoke(args=["demo", "load", "--if-empty"])
    assert result.exit_code == 0
    assert "ane@example.com" in result.output
    assert "Lucía's invitation" not in result.output  # this database has no demo invitation


def test_demo_load_command_refuses_a_production_site_unless_asked(app, db_session, make):
    make.user()
    app.config["TECOPIO_ENV"] = "production"
    try:
        refused = app.test_cli_runner().invoke(args=["demo", "load", "--if-empty"])
        asked = app.test_cli_runner().invoke(args=["demo", "load", "--in-production"])
    finally:
        app.config["TECOPIO_ENV"] = "testing"
    assert refused.exit_code != 0
    assert "production site" in refused.output and "--in-production" in refused.output
    assert "ane@example.com" not in refused.output
    assert "not empty" in asked.output  # past the production check, to the usual one


def test_demo_charter_has_a_history_to_compare(db_session):
    load_demo_data(db_session)
    energy = db_session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
    versions = history(db_session, energy)
    assert [version.number for version in versions] == [2, 1]
    assert current_charter(db_session, energy)["revenue.split"] == "contribution"


def test_demo_group_has_decisions_under_way(db_session):
    people = load_demo_data(db_session)
    energy = db_session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
    proposals = decisions.proposals_of(db_session, energy)
    assert {p.kind for p in proposals} == {
        "charter",
        "motion",
        "offer",
        "accept_bid",
        "spend_reserve",
    }
    charter_change = next(p for p in proposals if p.kind == "charter")
    tally = decisions.current_tally(db_session, charter_change)
    assert (tally.yes, tally.abstain) == (2, 1)
    assert decisions.may_vote(db_session, people["ane"], charter_change)


def test_the_demo_group_has_a_second_release_with_rows_held_back(db_session):
    """Five households joined after the first release; one of them moved two rows alone."""
    load_demo_data(db_session)
    energy = db_session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
    state = publish_if_due(db_session, energy, load_tree(db_session))
    assert state.number == 2 and state.shown
    figures = released_page(db_session, energy, Filters(), state)
    liked = next(row for row in figures.brands.rows if row.key.startswith("energy:like:"))
    assert not liked.released  # one more member would tell what Mikel did
    cooperative = next(r for r in figures.preference_values.rows if r.key == "energy:cooperative")
    assert not cooperative.released
    # What the five changed together is shown.
    assert figures.demand.total.released
    assert figures.demand.total.values["members"] == 16 + len(LATER_NEIGHBOURS)
    local = next(r for r in figures.preference_values.rows if r.key == "energy:local")
    assert local.released


def test_the_demo_has_a_verified_partner_invited_to_an_open_offer(db_session):
    people = load_demo_data(db_session)
    energy = db_session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
    published = [o for o in offers_of(db_session, energy, drafts=True) if o.snapshot]
    assert len(published) == 3
    (offer,) = [o for o in published if o.is_open_for_bids(utcnow())]
    demand = {row["key"]: row for row in offer.snapshot["demand"]}
    assert demand["energy"]["members"] >= offer.snapshot["k"]
    (invitation,) = invited_companies(db_session, offer)
    assert invitation.partner.verified
    assert [c.name for c in companies_of(db_session, people["nora"])] == [invitation.partner.name]
    assert [p.name for p in unverified_companies(db_session)] == ["FibraNet Telecom"]


def test_the_demo_has_two_bids_compared_and_a_running_vote_on_accepting_one(db_session):
    load_demo_data(db_session)
    energy = db_session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
    (offer,) = [o for o in offers_of(db_session, energy, drafts=False) if o.status == "closed"]
    comparison = bids.compare(db_session, offer)
    assert len(comparison.ranked) == 2 and comparison.unscored == []
    winner = comparison.bids[comparison.winner]
    assert winner.partner.name == "Ekiluz Energia Kooperatiba" and comparison.nudges == []
    vote = bids.open_award_vote(db_session, offer)
    assert vote.payload["bid_id"] == winner.id
    assert decisions.current_tally(db_session, vote).yes == 2


def test_the_demo_has_a_tipped_deal_with_contacts_shared(db_session):
    load_demo_data(db_session)
    energy = db_session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
    (offer,) = [o for o in offers_of(db_session, energy, drafts=False) if o.status == "awarded"]
    deal = deals.deal_of(db_session, offer)
    assert deal.status == DealStatus.TIPPED and deal.partner.name == "Ekiluz Energia Kooperatiba"
    standing = deals.standing_of(db_session, deal)
    assert standing.members > deal.tipping_point and standing.next_tier is not None
    assert deal.told_members >= deal.tipping_point
    assert 0 < len(deals.contacts(db_session, deal)) < standing.members


def test_the_demo_deal_is_rated_and_its_company_reads_and_answers_the_feedback(db_session):
    people = load_demo_data(db_session)
    energy = db_session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
    (offer,) = [o for o in offers_of(db_session, energy, drafts=False) if o.status == "awarded"]
    deal = deals.deal_of(db_session, offer)
    ratings = db_session.scalars(select(Feedback).where(Feedback.deal_id == deal.id)).all()
    assert len(ratings) >= 5
    nora, koldo = people["nora"], people["koldo"]
    (ekiluz,) = companies_of(db_session, nora)
    (about,) = feed.feedback_about(db_session, ekiluz)
    assert about.group == energy and about.row is not None and not about.row.get("hidden")
    assert about.row["members"] >= current_charter(db_session, energy).company_k
    assert about.answers and about.answers[0].body.startswith("Thank you for the ratings")
    # Red Eléctrica, also invited by the group, is rated by too few members: hidden.
    (red,) = companies_of(db_session, koldo)
    (about,) = feed.feedback_about(db_session, red)
    assert about.row is not None and about.row.get("hidden")


def test_the_demo_deal_is_paid_shared_and_a_payout_waits(db_session):
    people = load_demo_data(db_session)
    energy = db_session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
    (totals,) = money.totals(db_session, energy.id)
    assert (totals.money_in, totals.reserve, totals.outstanding) == (12_000, 1_800, 0)
    assert totals.paid_out > 0 and totals.in_transit > 0
    assert totals.money_in == totals.reserve + totals.distributed
    waiting = [p for p in money.payouts_of(db_session, energy) if p.status == "asked"]
    assert [p.user_id for p in waiting] == [people["iker"].id]
    assert verify(db_session, energy.id).intact
