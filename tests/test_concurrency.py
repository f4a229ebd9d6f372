"""Races between requests, run for real: separate connections, real commits."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from tecopio.accounts.models import User
from tecopio.analytics.cache import (
    AnalyticsSnapshot,
    AnalyticsVersion,
    published_figures,
)
from tecopio.analytics.jobs import publish_due_release
from tecopio.analytics.queries import Filters
from tecopio.audit.models import AuditEvent
from tecopio.categories.services import load_tree
from tecopio.db import db
from tecopio.governance import decisions
from tecopio.governance.models import CharterVersion, Proposal, Vote
from tecopio.groups import services
from tecopio.groups.models import Group, Membership, Role
from tests.conftest import TEST_DATABASE_URL
from tests.factories import PASSWORD_HASH

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="SQLite lets one writer in at a time, so these races exist only on PostgreSQL "
    "(run with TECOPIO_TEST_DATABASE_URL, as .ci/run does)",
)


@pytest.fixture
def committed(app):
    """Rows committed for real by a test, deleted afterwards."""
    created = {"users": [], "groups": []}
    yield created
    with app.app_context():
        db.session.execute(delete(AuditEvent).where(AuditEvent.group_id.in_(created["groups"])))
        db.session.execute(delete(Membership).where(Membership.group_id.in_(created["groups"])))
        db.session.execute(delete(Group).where(Group.id.in_(created["groups"])))
        db.session.execute(delete(User).where(User.id.in_(created["users"])))
        db.session.commit()


def run_together(app, *actions):
    """Run each action in its own thread, app context and session, all starting at once."""
    barrier = threading.Barrier(len(actions))
    outcomes = []

    def run(action):
        with app.app_context():
            try:
                action(db.session, barrier)
                db.session.commit()
                outcomes.append("done")
            except (IntegrityError, services.GroupError) as exc:
                db.session.rollback()
                outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def commit_group(app, committed, name: str, *emails: str, admins: int = 1):
    """Users and a group created by the first of them, committed for real.

    Returns the users' ids and the group's id; the first ``admins`` users are its admins.
    """
    with app.app_context():
        users = [User(email=e, display_name=e[:1], password_hash=PASSWORD_HASH) for e in emails]
        db.session.add_all(users)
        db.session.flush()
        group = services.create_group(
            db.session, users[0], name=name, description="", region="", policy="open"
        )
        for user in users[1:admins]:
            db.session.add(Membership(group=group, user=user, role=Role.ADMIN, status="active"))
        db.session.commit()
        committed["users"] += [user.id for user in users]
        committed["groups"].append(group.id)
        return [user.id for user in users], group.id


def test_two_simultaneous_joins_make_one_membership(app, committed):
    (_admin_id, joiner_id), group_id = commit_group(
        app, committed, "Race", "race-admin@example.com", "race-joiner@example.com"
    )
    ids = (joiner_id, group_id)

    def join(session, barrier):
        user, group = session.get(User, ids[0]), session.get(Group, ids[1])
        assert services.membership_of(session, user, group) is None
        barrier.wait()
        services.join_group(session, user, group)

    outcomes = run_together(app, join, join)
    assert sorted(outcomes) == ["IntegrityError", "done"]
    with app.app_context():
        count = db.session.scalar(
            select(func.count(Membership.id)).where(Membership.user_id == ids[0])
        )
    assert count == 1


def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, committed):
    user_ids, group_id = commit_group(
        app,
        committed,
        "Race admins",
        "race-first@example.com",
        "race-second@example.com",
        admins=2,
    )
    ids = (*user_ids, group_id)

    def demote(target_index):
        def action(session, barrier):
            group = session.get(Group, ids[2])
            actor = session.get(User, ids[1 - target_index])
            target = session.get(User, ids[target_index])
            membership = services.membership_of(session, target, group)
            barrier.wait()
            services.demote_member(session, actor, membership)

        return action

    outcomes = run_together(app, demote(0), demote(1))
    assert sorted(outcomes) == ["LastAdmin", "done"]
    with app.app_context():
        admins = db.session.scalar(
            select(func.count(Membership.id)).where(
                Membership.group_id == ids[2], Membership.role == Role.ADMIN
            )
        )
    assert admins == 1


def test_two_publications_of_the_same_release_at_once_publish_it_once(app, committed):
    _user_ids, group_id = commit_group(app, committed, "Race view", "race-view@example.com")

    def publish(session, barrier):
        group = session.get(Group, group_id)
        tree = load_tree(session)
        barrier.wait()
        published_figures(session, group, Filters(), tree)

    outcomes = run_together(app, publish, publish)
    assert outcomes == ["done", "done"]  # the second waited for the row lock, found none due
    with app.app_context():
        number = db.session.scalar(
            select(AnalyticsVersion.release_number).where(AnalyticsVersion.group_id == group_id)
        )
        whole = db.session.scalar(
            select(func.count(AnalyticsSnapshot.id)).where(
                AnalyticsSnapshot.group_id == group_id, AnalyticsSnapshot.key == "None|None|None"
            )
        )
        db.session.execute(delete(AnalyticsSnapshot).where(AnalyticsSnapshot.group_id == group_id))
        db.session.commit()
    assert (number, whole) == (1, 1)


def test_two_workers_taking_the_same_publication_publish_one_release(app, committed):
    """The second finds the group's row locked by the first and skips at once (it reports
    release 0), or comes after it and finds nothing due: one release either way."""
    _members, group_id = commit_group(app, committed, "Two workers", "workers@example.com")
    barrier = threading.Barrier(2)
    numbers, errors = [], []

    def work():
        with app.app_context():
            barrier.wait()
            try:
                numbers.append(publish_due_release(db.session, group_id))
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with app.app_context():
        number = db.session.scalar(
            select(AnalyticsVersion.release_number).where(AnalyticsVersion.group_id == group_id)
        )
        db.session.execute(delete(AnalyticsSnapshot).where(AnalyticsSnapshot.group_id == group_id))
        db.session.commit()
    assert errors == []
    assert number == 1
    assert sorted(numbers) in ([1, 1], [0, 1])


def test_the_same_first_vote_sent_twice_at_once_counts_once(app, committed):
    (admin_id,), group_id = commit_group(app, committed, "Race vote", "race-vote@example.com")
    with app.app_context():
        admin, group = db.session.get(User, admin_id), db.session.get(Group, group_id)
        proposal = decisions.open_proposal(
            db.session, admin, group, kind="motion", title="Race", description=""
        )
        # The proposal opens a moment after the admin joined: the admin votes on it.
        proposal.opens_at = proposal.opens_at + timedelta(seconds=1)
        db.session.commit()
        proposal_id = proposal.id

    def vote(choice):
        def action(session, barrier):
            user, found = session.get(User, admin_id), session.get(Proposal, proposal_id)
            barrier.wait()
            decisions.cast_vote(session, user, found, choice)

        return action

    outcomes = run_together(app, vote("yes"), vote("no"))
    with app.app_context():
        votes = db.session.scalars(select(Vote.choice).where(Vote.proposal_id == proposal_id)).all()
        db.session.execute(delete(Proposal).where(Proposal.id == proposal_id))
        db.session.commit()
    assert outcomes == ["done", "done"]  # the second waited for the row lock, then changed it
    assert len(votes) == 1


def test_two_admins_changing_the_charter_at_once_write_two_versions(app, committed):
    user_ids, group_id = commit_group(
        app, committed, "Race charter", "race-c1@example.com", "race-c2@example.com", admins=2
    )

    def change(index, k):
        def action(session, barrier):
            admin, group = session.get(User, user_ids[index]), session.get(Group, group_id)
            barrier.wait()
            decisions.change_charter_by_admin(session, admin, group, {"privacy.k_anonymity": k})

        return action

    outcomes = run_together(app, change(0, 6), change(1, 7))
    with app.app_context():
        numbers = db.session.scalars(
            select(CharterVersion.number)
            .where(CharterVersion.group_id == group_id)
            .order_by(CharterVersion.number)
        ).all()
        db.session.execute(delete(Proposal).where(Proposal.group_id == group_id))
        db.session.commit()
    assert outcomes == ["done", "done"]  # the second waited for the first, then followed it
    assert numbers == [1, 2, 3]


def test_two_proposals_opened_at_once_get_the_next_two_numbers(app, committed):
    user_ids, group_id = commit_group(
        app, committed, "Race numbers", "race-n1@example.com", "race-n2@example.com", admins=2
    )

    def open_one(index):
        def action(session, barrier):
            author, group = session.get(User, user_ids[index]), session.get(Group, group_id)
            barrier.wait()
            decisions.open_proposal(
                session, author, group, kind="motion", title=f"At once {index}", description=""
            )

        return action

    outcomes = run_together(app, open_one(0), open_one(1))
    with app.app_context():
        numbers = db.session.scalars(
            select(Proposal.number).where(Proposal.group_id == group_id).order_by(Proposal.number)
        ).all()
        db.session.execute(delete(Proposal).where(Proposal.group_id == group_id))
        db.session.commit()
    assert outcomes == ["done", "done"]  # the second waited for the group's lock
    assert numbers == [1, 2]


def test_a_vote_racing_the_close_is_counted_or_refused_never_lost(app, committed):
    (admin_id, voter_id), group_id = commit_group(
        app, committed, "Race close", "race-close-a@example.com", "race-close-v@example.com"
    )
    with app.app_context():
        admin, group = db.session.get(User, admin_id), db.session.get(Group, group_id)
        voter = db.session.get(User, voter_id)
        services.join_group(db.session, voter, group)
        proposal = decisions.open_proposal(
            db.session, admin, group, kind="motion", title="Race", description=""
        )
        proposal.opens_at = proposal.opens_at + timedelta(seconds=1)
        db.session.commit()
        proposal_id, closes_at = proposal.id, proposal.closes_at

    refused = []

    def vote(session, barrier):
        user, found = session.get(User, voter_id), session.get(Proposal, proposal_id)
        barrier.wait()
        try:
            decisions.cast_vote(session, user, found, "yes", now=closes_at - timedelta(seconds=1))
        except decisions.VotingClosed:
            refused.append(True)

    def close(session, barrier):
        found = session.get(Proposal, proposal_id)
        barrier.wait()
        decisions.close_proposal(session, found, closes_at)

    outcomes = run_together(app, vote, close)
    with app.app_context():
        closed = db.session.get(Proposal, proposal_id)
        votes = db.session.scalar(
            select(func.count(Vote.id)).where(Vote.proposal_id == proposal_id)
        )
        tallied = closed.yes
        db.session.execute(delete(Proposal).where(Proposal.id == proposal_id))
        db.session.commit()
    assert outcomes == ["done", "done"]
    assert tallied == votes  # a vote recorded is a vote counted
    assert votes == (0 if refused else 1)


def _bidding_scene(app, committed, name: str, prefix: str, accept_bids: str = "vote") -> dict:
    """A group with two admins, a verified company with two staff invited to a published
    offer, committed for real; ids of it all."""
    from datetime import date

    from tecopio.categories.models import Category
    from tecopio.db import utcnow
    from tecopio.demand import services as offers
    from tecopio.directory.models import Company
    from tecopio.governance.charters import Adoption, adopt, build_charter, current_charter
    from tecopio.partners.models import CompanyStaff, PartnerCompany, StaffRole

    emails = [f"{prefix}-{who}@example.com" for who in ("admin", "admin2", "a", "b")]
    user_ids, group_id = commit_group(app, committed, name, *emails, admins=2)
    admin_id, admin2_id, first_id, second_id = user_ids
    with app.app_context():
        session = db.session
        group = session.get(Group, group_id)
        if accept_bids != "vote":
            charter = build_charter(
                session, current_charter(session, group), {"partners.accept_bids": accept_bids}
            )
            adopt(session, group, charter, adoption=Adoption.ADMINS, actor=None)
        company = Company(name=f"{name} Solar", normalized_name=f"{prefix} solar")
        partner = PartnerCompany(
            company=company,
            slug=f"{prefix}-solar",
            description="",
            contact_email="r@example.com",
            verified_at=utcnow(),
        )
        session.add_all([company, partner])
        session.flush()
        for user_id, role in ((first_id, StaffRole.OWNER), (second_id, StaffRole.STAFF)):
            session.add(CompanyStaff(partner_id=partner.id, user_id=user_id, role=role))
        energy = session.scalar(select(Category).where(Category.slug == "energy"))
        admin = session.get(User, admin_id)
        offer = offers.create_offer(
            session,
            admin,
            group,
            title="Race",
            category_id=energy.id,
            terms="Terms.",
            weights={"price": 1},
            tipping_point=10,
            tiers=[],
            deadline_day=date.today() + timedelta(days=5),
        )
        offers.publish_offer(session, admin, offer)
        offers.invite_companies(session, admin, offer, [partner.id])
        session.commit()
        return {
            "group": group_id,
            "admins": (admin_id, admin2_id),
            "staff": (first_id, second_id),
            "offer": offer.id,
            "partner": partner.id,
            "company": company.id,
            "valid_until": offer.last_bidding_day + timedelta(days=30),
        }


def _remove_bidding_scene(app, scene: dict) -> None:
    from tecopio.demand import bids
    from tecopio.demand.models import DemandOffer, OfferInvitation
    from tecopio.directory.models import Company
    from tecopio.notifications.models import Notification
    from tecopio.partners.models import CompanyStaff, PartnerCompany

    with app.app_context():
        session = db.session
        session.execute(delete(Notification).where(Notification.user_id.in_(scene["staff"])))
        session.execute(delete(bids.Bid).where(bids.Bid.offer_id == scene["offer"]))
        session.execute(delete(OfferInvitation).where(OfferInvitation.offer_id == scene["offer"]))
        session.execute(delete(Proposal).where(Proposal.group_id == scene["group"]))
        session.execute(delete(DemandOffer).where(DemandOffer.id == scene["offer"]))
        session.execute(delete(CompanyStaff).where(CompanyStaff.partner_id == scene["partner"]))
        session.execute(delete(PartnerCompany).where(PartnerCompany.id == scene["partner"]))
        session.execute(delete(Company).where(Company.id == scene["company"]))
        session.execute(delete(CharterVersion).where(CharterVersion.group_id == scene["group"]))
        session.commit()


def _bid_and_close(app, scene: dict) -> int:
    """A standing bid, and bidding closed: the group may choose."""
    from tecopio.db import utcnow
    from tecopio.demand import bids
    from tecopio.demand.models import DemandOffer
    from tecopio.partners.models import PartnerCompany

    with app.app_context():
        session = db.session
        offer = session.get(DemandOffer, scene["offer"])
        bid = bids.submit_bid(
            session,
            session.get(User, scene["staff"][0]),
            session.get(PartnerCompany, scene["partner"]),
            offer,
            bids.BidValues(
                terms_answer="accept", price=100, fee=0, valid_until=scene["valid_until"]
            ),
        )
        offer.bid_deadline = utcnow() - timedelta(minutes=1)
        session.commit()
        return bid.id


def test_two_colleagues_bidding_at_once_make_one_bid(app, committed):
    """Both read "no bid yet"; the invitation's row lock makes the second wait, find the
    first's bid, and be refused: one bid per company, never two or an error page."""
    from tecopio.demand import bids
    from tecopio.demand.models import DemandOffer
    from tecopio.partners.models import PartnerCompany

    scene = _bidding_scene(app, committed, "Race bids", "bids")

    def bid_as(user_id, price):
        def act(session, barrier):
            offer = session.get(DemandOffer, scene["offer"])
            partner = session.get(PartnerCompany, scene["partner"])
            user = session.get(User, user_id)
            assert bids.bid_of(session, offer, partner) is None
            barrier.wait()
            try:
                bids.submit_bid(
                    session,
                    user,
                    partner,
                    offer,
                    bids.BidValues(
                        terms_answer="accept",
                        price=price,
                        fee=0,
                        valid_until=scene["valid_until"],
                    ),
                )
            except bids.AlreadyBid as error:
                raise services.GroupError(str(error)) from error

        return act

    first, second = scene["staff"]
    outcomes = run_together(app, bid_as(first, 100), bid_as(second, 90))
    with app.app_context():
        prices = list(
            db.session.scalars(select(bids.Bid.price).where(bids.Bid.offer_id == scene["offer"]))
        )
    _remove_bidding_scene(app, scene)
    assert sorted(outcomes) == ["GroupError", "done"]
    assert len(prices) == 1


def test_two_admins_deciding_at_once_decide_once(app, committed):
    """Both read "closed, undecided"; the offer's row lock makes the second wait, see the
    first's decision and be refused: one decision, one outcome told to the companies."""
    from tecopio.demand import bids
    from tecopio.demand.models import DemandOffer, OfferStatus

    scene = _bidding_scene(app, committed, "Race decide", "decide", accept_bids="admins")
    bid_id = _bid_and_close(app, scene)

    def decide_as(admin_id, choice):
        def act(session, barrier):
            offer = session.get(DemandOffer, scene["offer"])
            assert offer.status in (OfferStatus.PUBLISHED, OfferStatus.CLOSED)
            barrier.wait()
            try:
                bids.decide_by_admin(session, session.get(User, admin_id), offer, choice)
            except bids.NotDecidable as error:
                raise services.GroupError(str(error)) from error

        return act

    first, second = scene["admins"]
    outcomes = run_together(app, decide_as(first, bid_id), decide_as(second, None))
    with app.app_context():
        decisions_made = db.session.scalar(
            select(func.count())
            .select_from(Proposal)
            .where(Proposal.group_id == scene["group"], Proposal.kind == "accept_bid")
        )
        status = db.session.get(DemandOffer, scene["offer"]).status
    _remove_bidding_scene(app, scene)
    assert sorted(outcomes) == ["GroupError", "done"]
    assert decisions_made == 1 and status in (OfferStatus.AWARDED, OfferStatus.NOT_AWARDED)


def test_two_admins_opening_an_award_vote_at_once_open_one(app, committed):
    """One vote per offer at a time: the second admin's proposal waits for the first's and
    is refused, rather than members finding two votes on the same bids."""
    from tecopio.demand import bids
    from tecopio.demand.models import DemandOffer

    scene = _bidding_scene(app, committed, "Race award vote", "award")
    bid_id = _bid_and_close(app, scene)

    def propose_as(admin_id, choice):
        def act(session, barrier):
            offer = session.get(DemandOffer, scene["offer"])
            assert bids.open_award_vote(session, offer) is None
            barrier.wait()
            try:
                bids.propose_award(session, session.get(User, admin_id), offer, choice)
            except (bids.VoteRunning, bids.NotDecidable) as error:
                raise services.GroupError(str(error)) from error

        return act

    first, second = scene["admins"]
    outcomes = run_together(app, propose_as(first, bid_id), propose_as(second, None))
    with app.app_context():
        votes = db.session.scalar(
            select(func.count())
            .select_from(Proposal)
            .where(Proposal.group_id == scene["group"], Proposal.kind == "accept_bid")
        )
    _remove_bidding_scene(app, scene)
    assert sorted(outcomes) == ["GroupError", "done"]
    assert votes == 1


def test_the_last_two_commitments_at_once_tip_the_deal_once(app, committed):
    """Both read "one below the tipping point"; the deal's row lock queues the second, which
    finds the deal tipped: one tipping, one set of notices for the company."""
    from tecopio.demand import bids, deals
    from tecopio.demand.models import DealStatus, DemandOffer

    scene = _bidding_scene(app, committed, "Race tipping", "tip", accept_bids="admins")
    bid_id = _bid_and_close(app, scene)
    with app.app_context():
        session = db.session
        offer = session.get(DemandOffer, scene["offer"])
        bids.decide_by_admin(session, session.get(User, scene["admins"][0]), offer, bid_id)
        households = [
            User(email=f"tip-member-{n}@example.com", display_name="M", password_hash=PASSWORD_HASH)
            for n in range(offer.tipping_point)
        ]
        session.add_all(households)
        session.flush()
        for user in households:
            session.add(
                Membership(group_id=scene["group"], user=user, role=Role.MEMBER, status="active")
            )
        session.commit()
        committed["users"] += [user.id for user in households]
        deal = deals.deal_of(session, offer)
        for user in households[:-2]:
            deals.commit(session, user, deal, deals.CommitmentValues(quantity=1))
        session.commit()
        deal_id, last_two = deal.id, [user.id for user in households[-2:]]

    def commit_as(user_id):
        def act(session, barrier):
            deal = session.get(deals.Deal, deal_id)
            assert deals.standing_of(session, deal).to_tip == 2
            barrier.wait()
            deals.commit(session, session.get(User, user_id), deal, deals.CommitmentValues(1))

        return act

    outcomes = run_together(app, *(commit_as(user_id) for user_id in last_two))
    with app.app_context():
        deal = db.session.get(deals.Deal, deal_id)
        status, told = deal.status, deal.told_members
        tipped = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.group_id == scene["group"], AuditEvent.action == "deal.tipped")
        )
    _remove_bidding_scene(app, scene)
    assert outcomes == ["done", "done"]
    assert status == DealStatus.TIPPED and tipped == 1 and told == len(households)
