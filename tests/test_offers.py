"""Demand offers: building, publishing as the charter says, freezing the company release,
inviting verified companies of the allow-list, and what an invited company reads."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tecopio.analytics.company import CompanyPart
from tecopio.audit.models import AuditEvent
from tecopio.demand import services as offers
from tecopio.demand.models import (
    OFFER_TRANSITIONS,
    DemandOffer,
    InvalidOfferTransition,
    OfferEvent,
    OfferInvitation,
    OfferStatus,
    next_offer_status,
)
from tecopio.governance.decisions import close_proposal
from tecopio.governance.models import Proposal
from tecopio.privacy.models import Consent
from tests.factories import PASSWORD


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def wanting(make, group, n: int, *, slug="energy-electricity", **intent):
    """``n`` members of ``group`` sharing energy with it, each with one intent."""
    people = []
    for _ in range(n):
        person = make.member(group)
        make.consent(person, group, "energy")
        make.intent(person, category=make.category(slug), **intent)
        people.append(person)
    return people


def login(client, user):
    response = client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302


def form_of(offer_fields: dict) -> dict:
    values = {
        "title": "Solar panels",
        "category_id": "",
        "terms": "No marketing outside the deal.",
        "tipping_point": "10",
        "tiers": "",
        "deadline": (date.today() + timedelta(days=14)).isoformat(),
        **{f"weight_{key}": "0" for key in offers.CRITERIA},
        "weight_price": "70",
        "weight_renewable": "30",
    }
    values.update(offer_fields)
    return values


# --- the offer's states ------------------------------------------------------------

STATES = list(OfferStatus)
EVENTS = list(OfferEvent)


@pytest.mark.parametrize("status", STATES)
@pytest.mark.parametrize("event", EVENTS)
def test_every_state_and_event_is_in_the_table_or_refused(status, event):
    if (status, event) in OFFER_TRANSITIONS:
        assert next_offer_status(status, event) == OFFER_TRANSITIONS[(status, event)]
    else:
        with pytest.raises(InvalidOfferTransition):
            next_offer_status(status, event)


def test_the_table_lets_an_offer_be_published_only_from_a_draft_or_a_vote():
    published_from = {s for (s, e), to in OFFER_TRANSITIONS.items() if to == OfferStatus.PUBLISHED}
    assert published_from == {OfferStatus.DRAFT, OfferStatus.PROPOSED}


# --- building an offer over HTTP -----------------------------------------------------


def test_an_admin_builds_a_draft_and_bad_input_writes_nothing(client, make, db_session):
    group = make.group(company_k=10)
    admin = make.admins(group)[0].user
    energy = make.category("energy")
    login(client, admin)
    url = f"/groups/{group.slug}/offers/new"
    bad = {
        "tipping_point": "9",  # below the company k
        "tiers": "8, 30",
        "deadline": date.today().isoformat(),
        "weight_price": "0",
        "weight_renewable": "0",
        "category_id": str(energy.id),
    }
    response = client.submit(url, form_of(bad))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "company minimum" in page
    assert "Choose a day after today" in page
    assert "at least one criterion" in page
    assert count(db_session, DemandOffer) == 0
    response = client.submit(url, form_of({"category_id": str(energy.id), "weight_price": "-1"}))
    assert response.status_code == 400
    assert count(db_session, DemandOffer) == 0
    response = client.submit(url, form_of({"category_id": str(energy.id), "tiers": "20, 40"}))
    assert response.status_code == 302
    offer = db_session.scalar(select(DemandOffer))
    assert (offer.number, offer.status, offer.tiers) == (1, OfferStatus.DRAFT, [20, 40])
    assert offer.snapshot is None
    assert {c["key"]: c["weight"] for c in offer.criteria}["price"] == 70


def test_an_offer_names_only_a_category_the_charter_lets_the_group_add_up(make, db_session):
    group = make.group()
    make.charter(group, privacy__categories=["food"])
    with pytest.raises(offers.InvalidOffer) as refused:
        make.offer(group)
    assert "category_id" in refused.value.errors


def test_members_other_than_admins_cannot_build_or_see_drafts(client, make, db_session):
    group = make.group()
    offer = make.offer(group)
    member = make.member(group)
    login(client, member)
    assert client.get(f"/groups/{group.slug}/offers/new").status_code == 403
    assert client.get(f"/groups/{group.slug}/offers/{offer.number}").status_code == 404
    listing = client.get(f"/groups/{group.slug}/offers").get_data(as_text=True)
    assert offer.title not in listing


# --- publishing, as the charter says -------------------------------------------------


def test_publishing_freezes_the_figures_and_later_data_never_changes_them(client, make, db_session):
    group = make.group(company_k=10, k_anonymity=5)
    people = wanting(make, group, 12, quantity=2)
    offer = make.offer(group)
    admin = make.admins(group)[0].user
    login(client, admin)
    url = f"/groups/{group.slug}/offers/{offer.number}/publish"
    first = client.confirm(url)
    assert first.status_code == 302
    db_session.refresh(offer)
    assert offer.status == OfferStatus.PUBLISHED
    frozen = dict(offer.snapshot)
    energy = next(row for row in frozen["demand"] if row["key"] == "energy")
    assert energy["members"] == 12
    assert energy["values"]["quantity"] == 24
    # Members change their data: the published offer does not move.
    for person in people[:6]:
        make.intent(person, quantity=5)
    withdrawn = db_session.scalar(select(Consent).where(Consent.user_id == people[7].id))
    withdrawn.granted = False
    make.commit()
    db_session.refresh(offer)
    assert offer.snapshot == frozen
    page = client.get(f"/groups/{group.slug}/offers/{offer.number}").get_data(as_text=True)
    assert ">24 " in page or ">24<" in page or "24 contract" in page


def test_publishing_twice_or_by_an_admin_where_members_vote_is_refused(client, make, db_session):
    group = make.group(partners__publish_offers="vote")
    offer = make.offer(group)
    admin = make.admins(group)[0].user
    login(client, admin)
    # Refused at once, not asked about.
    response = client.submit(f"/groups/{group.slug}/offers/{offer.number}/publish")
    assert response.status_code == 409
    response = client.submit(
        f"/groups/{group.slug}/offers/{offer.number}/publish", {"confirmed": "yes"}
    )
    assert response.status_code == 409
    db_session.refresh(offer)
    assert offer.status == OfferStatus.DRAFT and offer.snapshot is None


def test_no_vote_opens_where_admins_publish_and_a_published_offer_is_not_edited(
    client, make, db_session
):
    group = make.group()  # the charter lets admins publish
    draft = make.offer(group)
    published = make.offer(group, publish=True)
    login(client, make.admins(group)[0].user)
    before = count(db_session, Proposal)
    response = client.submit(f"/groups/{group.slug}/offers/{draft.number}/propose")
    assert response.status_code == 409 and "nothing to vote on" in response.text
    assert count(db_session, Proposal) == before
    edit = f"/groups/{group.slug}/offers/{published.number}/edit"
    assert client.get(edit).status_code == 409
    response = client.submit(edit, form_of({"title": "Changed after publishing"}))
    assert response.status_code == 409
    db_session.refresh(published)
    assert published.title == "Green electricity for the group"


def test_where_members_vote_the_offer_is_published_when_the_vote_passes(make, db_session):
    group = make.group(partners__publish_offers="vote", company_k=10, decisions__quorum_percent=0)
    wanting(make, group, 11)
    admin = make.admins(group)[0].user
    offer = make.offer(group, deadline_day=date.today() + timedelta(days=30))
    proposal = offers.propose_offer(db_session, admin, offer)
    make.commit()
    assert offer.status == OfferStatus.PROPOSED and offer.snapshot is None
    from tecopio.governance.decisions import cast_vote
    from tecopio.governance.models import VoteChoice

    cast_vote(db_session, admin, proposal, VoteChoice.YES)
    close_proposal(db_session, proposal, now=proposal.closes_at + timedelta(seconds=1))
    make.commit()
    db_session.refresh(offer)
    assert offer.status == OfferStatus.PUBLISHED
    assert offer.snapshot["k"] == 10


def test_a_vote_that_fails_leaves_the_offer_unpublished(make, db_session):
    group = make.group(partners__publish_offers="vote")
    admin = make.admins(group)[0].user
    offer = make.offer(group, deadline_day=date.today() + timedelta(days=30))
    proposal = offers.propose_offer(db_session, admin, offer)
    from tecopio.governance.decisions import cast_vote
    from tecopio.governance.models import VoteChoice

    cast_vote(db_session, admin, proposal, VoteChoice.NO)
    close_proposal(db_session, proposal, now=proposal.closes_at + timedelta(seconds=1))
    make.commit()
    db_session.refresh(offer)
    assert offer.status == OfferStatus.REJECTED and offer.snapshot is None


def test_a_vote_needs_a_deadline_after_it_closes(make, db_session):
    group = make.group(partners__publish_offers="vote")
    admin = make.admins(group)[0].user
    offer = make.offer(group, deadline_day=date.today() + timedelta(days=3))
    with pytest.raises(offers.DeadlineTooClose):
        offers.propose_offer(db_session, admin, offer)


def test_an_admins_publication_is_in_the_decisions_and_the_audit_log(make, db_session):
    group = make.group()
    offer = make.offer(group, publish=True)
    decision = db_session.get(Proposal, offer.proposal_id)
    assert decision.kind == "offer" and decision.payload["number"] == offer.number
    actions = set(
        db_session.scalars(select(AuditEvent.action).where(AuditEvent.group_id == group.id))
    )
    assert {"offer.drafted", "offer.published"} <= actions


# --- inviting companies --------------------------------------------------------------


def test_only_verified_companies_of_the_allow_list_are_invited_and_a_refusal_writes_nothing(
    client, make, db_session
):
    food = make.category("food")
    energy = make.category("energy")
    group = make.group(partners__sectors=["energy"])
    offer = make.offer(group, publish=True)
    good = make.partner(name="Solar Coop", sector_id=energy.id)
    unverified = make.partner(name="New Power", sector_id=energy.id, verified=False)
    outside = make.partner(name="Bread Co", sector_id=food.id)
    admin = make.admins(group)[0].user
    login(client, admin)
    url = f"/groups/{group.slug}/offers/{offer.number}/invite"
    for refused in (unverified, outside):
        response = client.submit(url, {"partner_ids": [good.id, refused.id]})
        assert response.status_code == 400
        assert refused.name in response.get_data(as_text=True)
    assert count(db_session, OfferInvitation) == 0
    page = client.get(f"/groups/{group.slug}/offers/{offer.number}").get_data(as_text=True)
    assert "Solar Coop" in page and "Bread Co" not in page and "New Power" not in page
    response = client.submit(url, {"partner_ids": [good.id]})
    assert response.status_code == 302
    assert count(db_session, OfferInvitation) == 1


def test_companies_are_invited_only_to_a_published_offer_open_for_bids(make, db_session):
    group = make.group()
    draft = make.offer(group)
    partner = make.partner()
    admin = make.admins(group)[0].user
    with pytest.raises(offers.NotOpenForInvitations):
        offers.invite_companies(db_session, admin, draft, [partner.id])


# --- what an invited company reads ----------------------------------------------------


def test_an_invited_company_reads_the_offer_and_nobody_else_does(make_client, make, db_session):
    group = make.group(company_k=10)
    wanting(make, group, 12)
    offer = make.offer(group, publish=True)
    invited_owner, other_owner = make.user(), make.user()
    invited = make.partner(invited_owner, name="Solar Coop")
    other = make.partner(other_owner, name="Other Power")
    admin = make.admins(group)[0].user
    offers.invite_companies(db_session, admin, offer, [invited.id])
    make.commit()
    url = f"/partners/{invited.slug}/offers/{group.slug}/{offer.number}"

    staff_client = make_client()
    login(staff_client, invited_owner)
    page = staff_client.get(url)
    assert page.status_code == 200
    assert offer.title in page.get_data(as_text=True)
    assert offer.title in staff_client.get(f"/partners/{invited.slug}").get_data(as_text=True)
    # The company's staff are not the group's members: its figures are not theirs.
    assert staff_client.get(f"/groups/{group.slug}/analytics").status_code == 403
    assert staff_client.get(f"/groups/{group.slug}/offers").status_code == 403
    assert staff_client.get(f"/groups/{group.slug}/offers/{offer.number}").status_code == 403

    other_client = make_client()
    login(other_client, other_owner)
    # Another company's staff: not through their own portal, nor through the invited one's.
    own = f"/partners/{other.slug}/offers/{group.slug}/{offer.number}"
    assert other_client.get(own).status_code == 404
    assert other_client.get(url).status_code == 403


def test_removed_staff_no_longer_act_for_the_company(make_client, make, db_session):
    owner, colleague = make.user(), make.user()
    partner = make.partner(owner)
    staff = make.staff(partner, colleague)
    colleague_client = make_client()
    login(colleague_client, colleague)
    assert colleague_client.get(f"/partners/{partner.slug}").status_code == 200
    owner_client = make_client()
    login(owner_client, owner)
    response = owner_client.confirm(f"/partners/{partner.slug}/staff/{staff.id}/remove")
    assert response.status_code == 302
    assert colleague_client.get(f"/partners/{partner.slug}").status_code == 403


# --- the company release: k and differences between releases ------------------------


def _numbers(snapshot) -> list[tuple[str, int]]:
    found = []

    def walk(row):
        if not row.get("hidden") and row.get("members") is not None:
            found.append((row["key"], row["members"]))
        for child in row.get("children", []):
            walk(child)

    for row in snapshot["demand"] + snapshot["windows"]:
        walk(row)
    return found


def test_no_company_number_rests_on_fewer_than_the_company_k(make, db_session):
    group = make.group(company_k=10, k_anonymity=5)
    wanting(make, group, 11, slug="energy-electricity")
    wanting(make, group, 6, slug="energy-heating")  # enough for members, too few for companies
    offer = make.offer(group, publish=True)
    numbers = _numbers(offer.snapshot)
    assert numbers, "the offer shows something"
    assert all(members >= 10 for _key, members in numbers)
    demand = {row["key"]: row for row in offer.snapshot["demand"]}
    children = {child["key"]: child for child in demand["energy"].get("children", [])}
    # Heating rests on 6: hidden; electricity, with the total known, would tell it by
    # subtraction: hidden too.
    assert children["energy-heating"].get("hidden")
    assert children["energy-electricity"].get("hidden")


def test_one_members_change_between_two_offers_is_not_shown_to_companies(make, db_session):
    group = make.group(company_k=10, k_anonymity=5)
    people = wanting(make, group, 14, quantity=1)
    first = make.offer(group, publish=True)
    before = {row["key"]: row for row in first.snapshot["demand"]}
    assert before["energy"]["values"]["quantity"] == 14
    # One member changes a quantity; a second offer on the same category follows.
    make.intent(people[0], quantity=7)
    second = make.offer(group, publish=True)
    after = {row["key"]: row for row in second.snapshot["demand"]}
    assert after["energy"].get("hidden"), "the difference would tell one member's intent"
    assert count(db_session, CompanyPart) > 0


def test_a_change_of_enough_members_is_shown_in_the_next_offer(make, db_session):
    group = make.group(company_k=10, k_anonymity=5)
    wanting(make, group, 14, quantity=1)
    make.offer(group, publish=True)
    wanting(make, group, 10, quantity=2)  # ten more members: a difference resting on ten
    second = make.offer(group, publish=True)
    after = {row["key"]: row for row in second.snapshot["demand"]}
    assert after["energy"]["members"] == 24
    assert after["energy"]["values"]["quantity"] == 34


def test_a_draft_preview_writes_nothing(client, make, db_session):
    group = make.group(company_k=10)
    wanting(make, group, 12)
    offer = make.offer(group)
    login(client, make.admins(group)[0].user)
    response = client.get(f"/groups/{group.slug}/offers/{offer.number}")
    assert response.status_code == 200
    assert "Preview" in response.get_data(as_text=True)
    assert count(db_session, CompanyPart) == 0


def test_the_companys_staff_are_told_of_an_invitation_and_removed_staff_are_not(
    client, make, db_session
):
    from tecopio.notifications.services import notifications_of, unread_count

    group = make.group()
    offer = make.offer(group, publish=True)
    owner, colleague = make.user(), make.user()
    partner = make.partner(owner)
    staff = make.staff(partner, colleague)
    offers.invite_companies(db_session, make.admins(group)[0].user, offer, [partner.id])
    make.commit()
    assert unread_count(db_session, owner) == 1 and unread_count(db_session, colleague) == 1
    login(client, owner)
    page = client.get("/notifications").get_data(as_text=True)
    assert f"invites {partner.name} to bid" in page
    assert f"/partners/{partner.slug}/offers/{group.slug}/{offer.number}" in page
    from tecopio.partners.services import remove_staff

    remove_staff(db_session, owner, staff)
    make.commit()
    assert unread_count(db_session, colleague) == 0
    assert notifications_of(db_session, colleague) == []
