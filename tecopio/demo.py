"""Demo data: ``flask demo load`` fills an empty database with a small, working cooperative."""

from datetime import timedelta

import click
from flask import current_app
from sqlalchemy import func, select

from tecopio.accounts.models import User
from tecopio.accounts.passwords import hash_password
from tecopio.accounts.services import region_key, register_user
from tecopio.analytics.cache import publish_release
from tecopio.categories.services import load_tree
from tecopio.db import db
from tecopio.db import today as current_day
from tecopio.demand import bids, deals
from tecopio.demand import services as offers
from tecopio.directory import services as directory
from tecopio.directory.models import Company
from tecopio.feed import services as feed
from tecopio.governance import decisions
from tecopio.groups import services as groups
from tecopio.groups.models import Invitation, InvitationStatus, Membership, MembershipStatus
from tecopio.ledger import reserve
from tecopio.ledger import services as money
from tecopio.ledger.models import Invoice
from tecopio.memberdata import services as memberdata
from tecopio.partners import services as partners
from tecopio.privacy import services as privacy

DEMO_PASSWORD = "tecopio-demo-2026"  # noqa: S105
DEMO_ENERGY_SLUG = "bilbao-green-energy-cooperative"

# (email, display name, what they show)
DEMO_PEOPLE = [
    ("ane@example.com", "Ane Etxeberria", "admin of Bilbao Green Energy Cooperative"),
    ("jon@example.com", "Jon Agirre", "member; admin of Vitoria-Gasteiz Food Circle"),
    ("maite@example.com", "Maite Ruiz", "member; admin of Donostia Repair and Reuse"),
    ("iker@example.com", "Iker Larrañaga", "member of Bilbao and Vitoria-Gasteiz groups"),
    ("lucia@example.com", "Lucía Fernández", "waiting for approval in Bilbao; invited to Donostia"),
    ("operator@example.com", "Platform Operator", "platform admin: merges duplicate companies"),
    ("nora@example.com", "Nora Ibarra", "owner of Ekiluz's partner account (verified)"),
    ("pello@example.com", "Pello Gómez", "owner of FibraNet's account, waiting to be verified"),
    ("koldo@example.com", "Koldo Uriarte", "owner of Red Eléctrica del Norte's account (verified)"),
]

# (name, website, sector slug)
DEMO_COMPANIES = [
    ("Ekiluz Energia Kooperatiba", "https://ekiluz.example.org", "energy"),
    ("Red Eléctrica del Norte", "https://redelectricanorte.example.com", "energy"),
    ("Red Electrica Norte S.A.", "", "energy"),  # a duplicate for the operator to merge
    ("Baserri Fresh", "https://baserrifresh.example.org", "food"),
    ("FibraNet Telecom", "https://fibranet.example.com", "telecom"),
    ("Txirrinda Bikes", "https://txirrinda.example.org", "mobility"),
    ("Konpon Repair Shop", "", "housing"),
]


def load_demo_data(session) -> dict[str, User]:
    people = {
        email.split("@")[0]: register_user(
            session, email=email, password=DEMO_PASSWORD, display_name=name, locale=None
        )
        for email, name, _ in DEMO_PEOPLE
    }
    energy = groups.create_group(
        session,
        people["ane"],
        name="Bilbao Green Energy Cooperative",
        description=(
            "Households in Bilbao pooling their electricity demand to buy renewable "
            "energy together, on terms we set ourselves.\n\n"
            "Etxeak elkartuta, energia berriztagarria elkarrekin erosteko."
        ),
        region="Bilbao, Bizkaia",
        policy="approval",
    )
    food = groups.create_group(
        session,
        people["jon"],
        name="Vitoria-Gasteiz Food Circle",
        description="Local, seasonal and organic food bought directly from producers of Álava.",
        region="Vitoria-Gasteiz, Araba",
        policy="open",
    )
    repair = groups.create_group(
        session,
        people["maite"],
        name="Donostia Repair and Reuse",
        description="Members who want durable, repairable products and honest after-sales service.",
        region="Donostia, Gipuzkoa",
        policy="invitation",
    )
    decisions.change_charter_by_admin(
        session,
        people["ane"],
        energy,
        {
            "revenue.reserve_percent": 15,
            "revenue.split": "contribution",
            "decisions.show_tally": True,
        },
        reason=(
            "Agreed at the first assembly: a bigger reserve, points for taking part, "
            "and votes we can follow while they are open."
        ),
    )
    for name in ("jon", "maite", "iker"):
        membership = groups.join_group(session, people[name], energy)
        groups.approve_member(session, people["ane"], membership)
    groups.join_group(session, people["lucia"], energy)  # stays pending
    for name in ("maite", "iker"):
        groups.join_group(session, people[name], food)
    groups.invite(
        session,
        people["maite"],
        repair,
        "lucia@example.com",
        valid_days=current_app.config["INVITATION_VALID_DAYS"],
    )
    people["operator"].is_platform_admin = True
    people["maite"].email_notifications = True
    load_members_data(session, people, energy)
    load_neighbours(session, energy)
    load_decisions(session, people, energy)
    load_release_history(session, energy)
    load_partners(session, people, energy)
    return people


def load_partners(session, people, energy) -> None:
    """Ekiluz's verified account, invited to the Bilbao group's open offer; FibraNet's
    account waiting in the operator's queue."""
    ekiluz = partners.register_company(
        session,
        people["nora"],
        name="Ekiluz Energia Kooperatiba",
        description="A renewable energy cooperative of the Basque Country: solar and wind.",
        website="https://ekiluz.example.org",
        contact_email="partners@ekiluz.example.org",
    )
    partners.verify_company(session, people["operator"], ekiluz)
    partners.register_company(
        session,
        people["pello"],
        name="FibraNet Telecom",
        description="Fibre broadband in Bizkaia and Gipuzkoa.",
        website="https://fibranet.example.com",
        contact_email="business@fibranet.example.com",
    )
    energy_root = load_tree(session).by_slug["energy"]
    offer = offers.create_offer(
        session,
        people["ane"],
        energy,
        title="Renewable electricity and solar for our households",
        category_id=energy_root.id,
        terms=(
            "The company sees only the group's totals, never a member. It contacts members "
            "only about this deal, and only those who chose to share their contact details for "
            "it, once the deal goes ahead. No direct marketing outside the deal; no resale of "
            "these figures. Prices are for every member who commits, with no hidden fees."
        ),
        weights={"price": 40, "renewable": 30, "local": 15, "conditions": 10, "service": 5},
        tipping_point=12,
        tiers=[20, 30],
        deadline_day=current_day() + timedelta(days=21),
    )
    offers.publish_offer(session, people["ane"], offer)
    offers.invite_companies(session, people["ane"], offer, [ekiluz.id])
    offers.create_offer(
        session,
        people["ane"],
        energy,
        title="Heat pumps for older flats",
        category_id=energy_root.id,
        terms="Installation included; no obligation for members who do not commit.",
        weights={"price": 50, "warranty": 30, "service": 20},
        tipping_point=15,
        tiers=[],
        deadline_day=current_day() + timedelta(days=45),
    )
    partners.invite_staff(session, people["nora"], ekiluz, "ander@ekiluz.example.org")
    load_bids(session, people, energy, ekiluz, energy_root)
    load_deal(session, people, energy, ekiluz, energy_root)


def load_deal(session, people, energy, ekiluz, energy_root) -> None:
    """An earlier offer whose bid the members accepted: its deal has tipped, eleven
    households committed, a few sharing their contact details with Ekiluz."""
    offer = offers.create_offer(
        session,
        people["ane"],
        energy,
        title="A renewable electricity tariff for the group",
        category_id=energy_root.id,
        terms=(
            "The company sees only the group's totals, never a member. It contacts only the "
            "members who chose to share their contact details for this deal. One price for "
            "every member who commits; switching is free and the company handles it."
        ),
        weights={"price": 50, "renewable": 30, "service": 20},
        tipping_point=10,
        tiers=[15],
        deadline_day=current_day() + timedelta(days=1),
        unit_label="one household's yearly contract",
    )
    offers.publish_offer(session, people["ane"], offer)
    offers.invite_companies(session, people["ane"], offer, [ekiluz.id])
    bid = bids.submit_bid(
        session,
        people["nora"],
        ekiluz,
        offer,
        bids.BidValues(
            terms_answer="accept",
            currency="EUR",
            price=9_500,
            tier_prices=(9_000,),
            fee_kind="per_member",
            fee=1_200,
            conditions="The price is per month for a typical flat; no permanence.",
            warranty_months=0,
            statements={"renewable": "Certified 100 % renewable origin."},
            valid_until=current_day() + timedelta(days=60),
        ),
    )
    offer.bid_deadline = offers.deadline_of(current_day() - timedelta(days=1))
    households = session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.group_id == energy.id,
            Membership.status == MembershipStatus.ACTIVE,
            User.email.not_in([f"{name}@example.com" for name in ("ane", "iker", "maite")]),
        )
        .order_by(User.id)
        .limit(11)
    ).all()
    vote = bids.propose_award(session, people["ane"], offer, bid.id)
    for voter in [people["ane"], people["maite"], *households[:8]]:
        decisions.cast_vote(session, voter, vote, "yes")
    decisions.close_proposal(session, vote)  # the demo shows it after the vote ended
    deal = deals.deal_of(session, offer)
    for number, user in enumerate(households):
        deals.commit(
            session,
            user,
            deal,
            deals.CommitmentValues(quantity=1 + number % 2, share_contact=number % 4 == 0),
        )
    feed.answer(
        session,
        people["nora"],
        ekiluz,
        offer,
        "Thank you, Bilbao! Eleven households is a good start: at fifteen the price drops to "
        "€90.00 for everyone. We will call only the members who shared their details, and "
        "switching starts in January.",
    )
    load_deal_ratings(session, people, energy, ekiluz, deal, households)
    load_money(session, people, energy, deal)


def load_money(session, people, energy, deal) -> None:
    """Ekiluz paid the deal's invoice by bank transfer; Ane recorded it, and the payment was
    shared by the charter. Maite was paid half her share; Iker asked for half of his;
    Jon proposes spending from the reserve."""
    invoice = session.scalar(select(Invoice).where(Invoice.deal_id == deal.id))
    money.record_offline_payment(
        session,
        invoice,
        amount=invoice.amount,
        currency=invoice.currency,
        reference="BBVA transfer 2026-0412 from Ekiluz Energia Kooperatiba",
        actor=people["ane"],
        fee_basis_points=current_app.config["PLATFORM_FEE_BASIS_POINTS"],
    )
    for name, part, pay_to in (
        ("maite", 2, "ES76 2077 0024 0031 0257 5766"),
        ("iker", 2, "ES91 2100 0418 4502 0005 1332"),
    ):
        holder = money.member_account(session, energy.id, people[name].id, invoice.currency)
        payout = money.ask_payout(
            session,
            energy,
            people[name],
            amount=money.balance_of(session, holder.id) // part,
            currency=invoice.currency,
            pay_to=pay_to,
        )
        if name == "maite":
            money.mark_payout_paid(session, payout, reference="SEPA 2026-0419", actor=people["ane"])
    reserve.propose_spending(
        session,
        people["jon"],
        energy,
        {
            "amount": 1_000,
            "currency": invoice.currency,
            "purpose": "An evening workshop on reading the electricity bill",
            "pay_to": "Auzolan Elkartea, ES80 2095 0000 1234 5678 9012",
        },
        "Half of the reserve, so that every household can check Ekiluz's first bills.",
    )


DEAL_RATINGS = [
    (5, "Switching took one phone call and the first bill was clear.", "partners"),
    (4, "", "partners"),
    (4, "", "partners"),
    (4, "Good price; the **contract** took a week to arrive.", "partners"),
    (4, "", "partners"),
    (3, "", "group"),
    (4, "", "partners"),
    (4, "", "partners"),
    (4, "", "partners"),
]


def load_deal_ratings(session, people, energy, ekiluz, deal, households) -> None:
    """Households rate the deal that went ahead; the group releases its members' feedback
    about the companies it invited, and Ekiluz answers it."""
    for user, (rating, body, visibility) in zip(households, DEAL_RATINGS, strict=False):
        deals.rate(session, user, deal, rating=rating, body=body, visibility=visibility)
    feed.release_due_feedback(session)
    feed.answer_feedback(
        session,
        people["nora"],
        ekiluz,
        energy,
        "Thank you for the ratings. Several of you asked for the contract sooner: from "
        "January it is sent by email the day you switch.",
    )


def load_bids(session, people, energy, ekiluz, energy_root) -> None:
    """An offer whose bidding has closed, with two bids the admins scored and a running vote
    on accepting Ekiluz's."""
    red = partners.register_company(
        session,
        people["koldo"],
        name="Red Eléctrica del Norte",
        description="Electricity retailer and solar installer for the north of Spain.",
        website="https://redelectricanorte.example.com",
        contact_email="grupos@redelectricanorte.example.com",
    )
    partners.verify_company(session, people["operator"], red)
    offer = offers.create_offer(
        session,
        people["ane"],
        energy,
        title="Community solar on our rooftops",
        category_id=energy_root.id,
        terms=(
            "The company sees only the group's totals, never a member. It contacts members "
            "only about this deal, and only those who chose to share their contact details. "
            "Each member's installation is priced as bid, with no hidden fees."
        ),
        weights={"price": 40, "renewable": 20, "local": 20, "warranty": 20},
        tipping_point=12,
        tiers=[20, 30],
        deadline_day=current_day() + timedelta(days=1),
        unit_label="one installed kWp",
    )
    offers.publish_offer(session, people["ane"], offer)
    offers.invite_companies(session, people["ane"], offer, [ekiluz.id, red.id])
    valid_until = current_day() + timedelta(days=60)
    ours = bids.submit_bid(
        session,
        people["nora"],
        ekiluz,
        offer,
        bids.BidValues(
            terms_answer="accept",
            currency="EUR",
            price=115_000,
            tier_prices=(110_000, 105_000),
            fee_kind="per_member",
            fee=2_500,
            conditions="Installed within eight weeks of the deal; panels made in Europe.",
            warranty_months=120,
            statements={
                "local": "Workshop in Bilbao; our own installers.",
                "renewable": "100 % renewable cooperative; recycled mounting frames.",
            },
            valid_until=valid_until,
        ),
    )
    bids.submit_bid(
        session,
        people["koldo"],
        red,
        offer,
        bids.BidValues(
            terms_answer="counter",
            counter_term="We may send members one satisfaction survey after the installation.",
            currency="EUR",
            price=105_000,
            tier_prices=(102_000, 99_000),
            fee_kind="fixed",
            fee=50_000,
            conditions="Installed within twelve weeks; financing over five years on request.",
            warranty_months=60,
            statements={"local": "Installers from Santander."},
            valid_until=valid_until,
        ),
    )
    # The demo shows the offer a little later in its cycle: its bidding closed since.
    offer.bid_deadline = offers.deadline_of(current_day() - timedelta(days=1))
    scores = {"renewable": {ours.id: 100}, "local": {ours.id: 100}}
    red_bid = bids.bid_of(session, offer, red)
    scores["renewable"][red_bid.id] = 70
    scores["local"][red_bid.id] = 40
    by_bid: dict[int, dict[str, int]] = {}
    for criterion, given in scores.items():
        for bid_id, score in given.items():
            by_bid.setdefault(bid_id, {})[criterion] = score
    bids.score_bids(session, people["ane"], offer, by_bid)
    vote = bids.propose_award(session, people["ane"], offer, ours.id)
    for name in ("jon", "maite"):
        decisions.cast_vote(session, people[name], vote, "yes")


def load_decisions(session, people, energy) -> None:
    """An open charter proposal with votes, and a motion, in the energy group."""
    charter_change = decisions.open_proposal(
        session,
        people["jon"],
        energy,
        kind="charter",
        title="Ten days to vote",
        description="Some of us travel for work: a week is short to read and vote.",
        payload={"changes": {"decisions.voting_days": 10}},
    )
    for name, choice in (("jon", "yes"), ("maite", "yes"), ("iker", "abstain")):
        decisions.cast_vote(session, people[name], charter_change, choice)
    motion = decisions.open_proposal(
        session,
        people["maite"],
        energy,
        kind="motion",
        title="Ask three installers for a group offer on solar panels",
        description="With our demand figures in hand, before the summer.",
    )
    decisions.cast_vote(session, people["ane"], motion, "yes")
    decisions.add_comment(
        session, people["iker"], motion, "Good idea. One of them should be a local cooperative."
    )


# More households in the Bilbao group, so that its analytics have figures to show.
NEIGHBOURS = [
    ("Amaia", "electricity", 4, ["renewable", "local"], 5),
    ("Borja", "electricity", 3, ["low_price"], 2),
    ("Carmen", "electricity", 5, ["renewable", "cooperative"], 5),
    ("Dani", "solar", 4, ["renewable"], 4),
    ("Edurne", "electricity", 5, ["renewable", "local", "cooperative"], 4),
    ("Fermín", "heating", 3, ["low_price", "quality"], 3),
    ("Garazi", "electricity", 4, ["renewable"], 5),
    ("Héctor", "solar", 5, ["renewable", "quality"], 1),
    ("Itziar", "electricity", 2, ["low_price"], 3),
    ("Joseba", "heating", 4, ["renewable", "local"], 4),
    ("Karmele", "electricity", 5, ["cooperative", "local"], 5),
    ("Lorea", "solar", 3, ["renewable"], 2),
]


# Households who join after the group's first release of figures, all wanting renewable,
# local electricity from the same month on and rating the cooperative. One of them also
# wants a cooperative supplier and likes Ekiluz: the next release, compared row by row
# with the first, keeps those two rows as they were hidden (they moved for one member).
LATER_NEIGHBOURS = [
    ("Mikel", "electricity", 4, ["renewable", "local", "cooperative"], 5),
    ("Nerea", "electricity", 4, ["renewable", "local"], 5),
    ("Oier", "electricity", 4, ["renewable", "local"], 5),
    ("Paula", "electricity", 4, ["renewable", "local"], 5),
    ("Unai", "electricity", 4, ["renewable", "local"], 5),
]


def load_release_history(session, energy) -> None:
    """The Bilbao group's first release, then households joining: the next view publishes
    release 2, compared with the first row by row."""
    publish_release(session, energy, load_tree(session))
    load_neighbours(session, energy, LATER_NEIGHBOURS, first=len(NEIGHBOURS), later=True)


def load_neighbours(
    session, energy, neighbours=NEIGHBOURS, first: int = 0, later: bool = False
) -> None:
    """Households sharing energy data; ``later`` ones all start in the same month and rate
    the cooperative, as neighbours who joined together after a meeting would."""
    cat = load_tree(session).by_slug
    password_hash = hash_password(DEMO_PASSWORD)
    cooperative = session.scalar(
        select(Company).where(Company.name == "Ekiluz Energia Kooperatiba")
    )
    incumbent = session.scalar(select(Company).where(Company.name == "Red Eléctrica del Norte"))
    today = current_day()
    for n, (name, sub, importance, values, rating) in enumerate(neighbours, start=first):
        region = "Bilbao" if n % 2 else "Getxo"
        user = User(
            email=f"{name.lower().replace('í', 'i').replace('é', 'e')}@example.com",
            display_name=f"{name} (demo)",
            password_hash=password_hash,
            region=region,
            region_key=region_key(region),
        )
        session.add(user)
        session.flush()
        groups.join_group(session, user, energy)
        groups.approve_member(
            session, energy_admin(session, energy), groups.membership_of(session, user, energy)
        )
        category = cat[f"energy-{sub}"]
        memberdata.create_preference(
            session,
            user,
            category_id=category.id,
            importance=importance,
            values=values,
            note="",
            liked=[cooperative.id] if "cooperative" in values else [],
            avoided=[incumbent.id] if "renewable" in values else [],
        )
        memberdata.create_intent(
            session,
            user,
            category_id=category.id,
            description="",
            quantity=1 if sub == "solar" else 2500 + 250 * n,
            unit="unit" if sub == "solar" else "kwh",
            budget_min=(300_000 if sub == "solar" else 40_000) + 5_000 * n,
            budget_max=(650_000 if sub == "solar" else 65_000) + 7_500 * n,
            currency="EUR",
            window_start=today + timedelta(days=20 + 30 * (0 if later else n % 4)),
            window_end=today + timedelta(days=200 + 30 * (0 if later else n % 4)),
        )
        memberdata.create_feedback(
            session,
            user,
            company_id=(cooperative if later or n % 3 else incumbent).id,
            rating=rating,
            body="",
            visibility="partners",
        )
        privacy.set_consent(session, user, energy, cat["energy"], True)


def energy_admin(session, group):
    return session.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.group_id == group.id, Membership.role == "admin")
    )


def load_members_data(session, people, energy) -> None:
    """Preferences, intents, feedback and consent, so that "My data" has something to show."""
    tree = load_tree(session)
    cat = tree.by_slug
    companies = {
        name: directory.add_company(
            session, people["iker"], name=name, website=website, sector_id=cat[sector].id
        )
        for name, website, sector in DEMO_COMPANIES
    }
    today = current_day()
    for name, importance, values in [
        ("ane", 5, ["renewable", "local", "cooperative"]),
        ("jon", 4, ["renewable", "low_price"]),
        ("maite", 5, ["renewable", "cooperative"]),
        ("iker", 3, ["low_price"]),
    ]:
        memberdata.create_preference(
            session,
            people[name],
            category_id=cat["energy-electricity"].id,
            importance=importance,
            values=values,
            note="",
            liked=[companies["Ekiluz Energia Kooperatiba"].id] if importance == 5 else [],
            avoided=[companies["Red Eléctrica del Norte"].id] if "cooperative" in values else [],
        )
        memberdata.create_intent(
            session,
            people[name],
            category_id=cat["energy-electricity"].id,
            description="Switch the household electricity contract to 100% renewable supply.",
            quantity=3500,
            unit="kwh",
            budget_min=45000 + importance * 1000,
            budget_max=70000 + importance * 2000,
            currency="EUR",
            window_start=today + timedelta(days=30),
            window_end=today + timedelta(days=210),
        )
        for root in ("energy", "food"):
            privacy.set_consent(session, people[name], energy, cat[root], True)
    memberdata.create_preference(
        session,
        people["ane"],
        category_id=cat["food-produce"].id,
        importance=4,
        values=["organic", "local", "plastic_free"],
        note="Weekly box from a farm near Bilbao.",
        liked=[companies["Baserri Fresh"].id],
        avoided=[],
    )
    memberdata.create_intent(
        session,
        people["ane"],
        category_id=cat["energy-solar"].id,
        description="Solar panels for the roof of our building (12 flats).",
        quantity=1,
        unit="unit",
        budget_min=3_000_00,
        budget_max=6_000_00,
        currency="EUR",
        window_start=today + timedelta(days=60),
        window_end=today + timedelta(days=300),
    )
    for name, company, rating, text in [
        ("ane", "Ekiluz Energia Kooperatiba", 5, "Clear bills and a real person on the phone."),
        ("jon", "Red Eléctrica del Norte", 2, "Prices went up twice this year **without notice**."),
        ("maite", "FibraNet Telecom", 4, "Fast fibre; installation took <em>three</em> weeks."),
        (
            "iker",
            "Txirrinda Bikes",
            5,
            "Fixed my bike **the same day**.\n\n- fair price\n- spare parts in stock\n\n"
            "See [their shop](https://txirrinda.example.org).",
        ),
    ]:
        memberdata.create_feedback(
            session,
            people[name],
            company_id=companies[company].id,
            rating=rating,
            body=text,
            visibility="partners" if rating >= 4 else "group",
        )


def init_app(app) -> None:
    @app.cli.group("demo")
    def demo_cli():
        """Demo data."""

    @demo_cli.command("load")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database has users.")
    @click.option(
        "--in-production",
        is_flag=True,
        help="Load it although TECOPIO_ENV is production (its accounts share a public password).",
    )
    def load(if_empty: bool, in_production: bool):
        """Load the demo cooperative and print its logins."""
        if current_app.config["TECOPIO_ENV"] == "production" and not in_production:
            raise click.ClickException(
                "This is a production site: the demo's accounts all share the public password "
                f"{DEMO_PASSWORD!r}. Add --in-production to load them anyway."
            )
        if db.session.scalar(select(func.count(User.id))):
            if if_empty:
                click.echo("Database already has data; demo data not loaded.")
                print_logins()
                return
            raise click.ClickException(
                "The database is not empty; demo data goes into an empty one."
            )
        load_demo_data(db.session)
        db.session.commit()
        click.echo("Demo data loaded.")
        print_logins()


def print_logins() -> None:
    click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
    for email, name, role in DEMO_PEOPLE:
        click.echo(f"  {email:<20} {name:<17} {role}")
    invitation = db.session.scalar(
        select(Invitation).where(
            Invitation.email == "lucia@example.com",
            Invitation.status == InvitationStatus.PENDING,
        )
    )
    if invitation is not None:
        token = groups.invitation_token(invitation, current_app.config["SECRET_KEY"])
        base = current_app.config["PUBLIC_URL"].rstrip("/")
        click.echo(f"\nLucía's invitation (as emailed to her): {base}/invitations/{token}")
    click.echo("")
