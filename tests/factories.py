"""Small factories with keyword overrides. Everything goes through the test's session."""

import itertools
from datetime import date, timedelta

from argon2 import PasswordHasher, profiles
from sqlalchemy import select

from tecopio.accounts.models import User
from tecopio.accounts.services import request_signup
from tecopio.categories.models import Category
from tecopio.db import utcnow
from tecopio.directory.models import Company
from tecopio.directory.services import normalise_company_name
from tecopio.governance.charters import adopt, build_charter, current_charter, found_charter
from tecopio.governance.models import Adoption
from tecopio.groups.models import (
    Group,
    Invitation,
    InvitationStatus,
    Membership,
    MembershipPolicy,
    MembershipStatus,
    Role,
)
from tecopio.memberdata.models import Feedback, Intent, IntentStatus, Preference
from tecopio.partners.models import CompanyStaff, PartnerCompany, StaffRole
from tecopio.privacy.models import Consent

PASSWORD = "correct horse battery staple"
# Hashed once with the test profile: creating users stays fast.
PASSWORD_HASH = PasswordHasher.from_parameters(profiles.CHEAPEST).hash(PASSWORD)
CHARTER_KEYWORDS = {
    "membership_policy": "membership.policy",
    "k_anonymity": "privacy.k_anonymity",
    "company_k": "privacy.company_k",
}
_sequence = itertools.count(1)


def charter_rules(keywords: dict) -> dict:
    """Charter rules by path from factory keywords (``k_anonymity=3``, ``decisions__x=...``).

    ``noise_epsilon_milli`` switches noise on with that epsilon, or off with None.
    """
    rules = {}
    for name, value in keywords.items():
        if name == "noise_epsilon_milli":
            rules["privacy.noise"] = value is not None
            if value is not None:
                rules["privacy.noise_epsilon_milli"] = value
            continue
        path = CHARTER_KEYWORDS.get(name, name.replace("__", "."))
        rules[path] = value.value if isinstance(value, MembershipPolicy) else value
    return rules


class Factories:
    def __init__(self, session, app=None):
        self.session = session
        self.app = app

    def commit(self) -> None:
        """Commit in the app, as a request would: the jobs the changes ask for are queued."""
        if self.app is None:
            self.session.commit()
            return
        with self.app.app_context():
            self.session.commit()

    def _save(self, obj):
        """Add and commit; the commit only releases a savepoint inside the test's transaction."""
        self.session.add(obj)
        self.commit()
        return obj

    def user(self, **overrides) -> User:
        n = next(_sequence)
        values = {
            "email": f"person{n}@example.com",
            "display_name": f"Person {n}",
            "password_hash": PASSWORD_HASH,
        }
        values.update(overrides)
        return self._save(User(**values))

    def group(self, admin: User | None = None, **overrides) -> Group:
        """A group whose admin founded its charter; rules as keywords (``k_anonymity=3``).

        ``membership_policy``, ``k_anonymity``, ``company_k`` and
        ``noise_epsilon_milli`` set those rules; other rules by path with
        ``__`` for ``.`` (``decisions__quorum_percent=50``).
        """
        n = next(_sequence)
        keywords = {
            name: overrides.pop(name)
            for name in list(overrides)
            if name in CHARTER_KEYWORDS or name == "noise_epsilon_milli" or "__" in name
        }
        rules = {"membership.policy": MembershipPolicy.OPEN.value, **charter_rules(keywords)}
        values = {
            "slug": f"group-{n}",
            "name": f"Group {n}",
            "description": "A test group.",
            "region": "Bilbao",
        }
        values.update(overrides)
        group = self._save(Group(**values))
        founder = admin or self.user()
        self.membership(group, founder, role=Role.ADMIN)
        found_charter(self.session, group, founder, rules)
        self.commit()
        return group

    def charter(self, group: Group, **changes):
        """A new charter version in force, decided by the admins (e.g. ``k_anonymity=9``)."""
        rules = charter_rules(changes)
        charter = build_charter(self.session, current_charter(self.session, group), rules)
        version = adopt(self.session, group, charter, adoption=Adoption.ADMINS, actor=None)
        self.commit()
        return version

    def membership(self, group: Group, user: User | None = None, **overrides) -> Membership:
        values = {
            "group": group,
            "user": user or self.user(),
            "role": Role.MEMBER,
            "status": MembershipStatus.ACTIVE,
        }
        values.update(overrides)
        return self._save(Membership(**values))

    def member(self, group: Group, **user_overrides) -> User:
        """A new user who is an active member of ``group``."""
        user = self.user(**user_overrides)
        self.membership(group, user)
        return user

    def admin_of(self, group: Group) -> User:
        return self.session.get(User, self.admins(group)[0].user_id)

    def admins(self, group: Group) -> list[Membership]:
        return [m for m in group.memberships if m.role == Role.ADMIN and m.is_active]

    def invitation(self, group: Group, email: str | None = None, **overrides) -> Invitation:
        values = {
            "group": group,
            "email": email or f"invitee{next(_sequence)}@example.com",
            "status": InvitationStatus.PENDING,
            "expires_at": utcnow() + timedelta(days=14),
        }
        values.update(overrides)
        return self._save(Invitation(**values))

    # --- members' data -------------------------------------------------------

    def category(self, slug: str = "energy-electricity") -> Category:
        """A category of the taxonomy the migrations seed."""
        return self.session.scalar(select(Category).where(Category.slug == slug))

    def company(self, **overrides) -> Company:
        n = next(_sequence)
        values = {"name": f"Company {n}", "website": ""}
        values.update(overrides)
        values.setdefault("normalized_name", normalise_company_name(values["name"]))
        return self._save(Company(**values))

    def preference(self, user: User | None = None, **overrides) -> Preference:
        values = {
            "user": user or self.user(),
            "category": self.category(),
            "importance": 3,
            "values": ["renewable"],
            "note": "",
        }
        values.update(overrides)
        return self._save(Preference(**values))

    def intent(self, user: User | None = None, **overrides) -> Intent:
        today = date.today()
        values = {
            "user": user or self.user(),
            "category": self.category(),
            "description": "Green electricity",
            "quantity": 1,
            "unit": "contract",
            "budget_min": 40_00,
            "budget_max": 60_00,
            "currency": "EUR",
            "window_start": today,
            "window_end": today + timedelta(days=90),
            "status": IntentStatus.OPEN,
        }
        values.update(overrides)
        return self._save(Intent(**values))

    def feedback(self, user: User | None = None, **overrides) -> Feedback:
        values = {
            "user": user or self.user(),
            "rating": 4,
            "body": "Good",
            "body_html": "<p>Good</p>",
        }
        values.update(overrides)
        if "company" not in values:
            values["company"] = self.company()
        return self._save(Feedback(**values))

    def consent(self, user: User, group: Group, slug: str = "energy", granted: bool = True):
        """Consent in force (the projection only; use the service to test the log)."""
        return self._save(
            Consent(
                user_id=user.id,
                group_id=group.id,
                category_id=self.category(slug).id,
                granted=granted,
            )
        )

    def partner(
        self, owner: User | None = None, *, verified: bool = True, **company
    ) -> "PartnerCompany":
        """A company account (its directory entry made too), verified unless told otherwise."""
        entry = self.company(**company)
        partner = PartnerCompany(
            company=entry,
            slug=f"partner-{entry.id}",
            description="We sell things.",
            contact_email=f"contact{entry.id}@company.example",
            verified_at=utcnow() if verified else None,
        )
        self._save(partner)
        self._save(CompanyStaff(partner=partner, user=owner or self.user(), role=StaffRole.OWNER))
        return partner

    def staff(self, partner, user: User | None = None, **overrides) -> "CompanyStaff":
        values = {"partner": partner, "user": user or self.user(), "role": StaffRole.STAFF}
        values.update(overrides)
        return self._save(CompanyStaff(**values))

    def bid(self, offer, partner, owner: User, **values):
        """A standing bid of ``partner`` on ``offer`` (it must be invited), held 30 days."""
        from tecopio.demand import bids

        fields = {
            "terms_answer": "accept",
            "currency": offer.currency,
            "price": 10_000,
            "tier_prices": tuple(9_000 - 500 * i for i, _tier in enumerate(offer.tiers)),
            "fee": 0,
            "warranty_months": 0,
            "valid_until": offer.last_bidding_day + timedelta(days=30),
        }
        fields.update(values)
        return bids.submit_bid(self.session, owner, partner, offer, bids.BidValues(**fields))

    def offer(self, group: Group, admin: User | None = None, *, publish: bool = False, **fields):
        """A draft offer in ``group`` (energy, tipping at the company k), published if asked."""
        from tecopio.demand import services as offers

        admin = admin or self.admins(group)[0].user
        charter = current_charter(self.session, group)
        values = {
            "title": "Green electricity for the group",
            "category_id": self.category("energy").id,
            "terms": "No direct marketing outside the deal.",
            "weights": {"price": 60, "renewable": 40},
            "tipping_point": charter.company_k,
            "tiers": [],
            "deadline_day": date.today() + timedelta(days=20),
        }
        values.update(fields)
        offer = offers.create_offer(self.session, admin, group, **values)
        if publish:
            offers.publish_offer(self.session, admin, offer)
        self.commit()
        return offer


def signup_token(session, email: str = "new.person@example.com") -> str:
    """The token of a pending sign-up's link, committed (a page needs one to open)."""
    token = request_signup(
        session,
        email=email,
        password="kelp forest walk",
        display_name="New",
        locale=None,
        next_url="",
        valid_hours=24,
    )
    session.commit()
    return token
