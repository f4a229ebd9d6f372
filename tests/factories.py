"""Small factories with keyword overrides. Everything goes through the test's session."""

import itertools
from datetime import timedelta

from argon2 import PasswordHasher, profiles

from tecopio.accounts.models import User
from tecopio.db import utcnow
from tecopio.groups.models import (
    Group,
    Invitation,
    InvitationStatus,
    Membership,
    MembershipPolicy,
    MembershipStatus,
    Role,
)

PASSWORD = "correct horse battery staple"
# Hashed once with the test profile: creating users stays fast.
PASSWORD_HASH = PasswordHasher.from_parameters(profiles.CHEAPEST).hash(PASSWORD)
_sequence = itertools.count(1)


class Factories:
    def __init__(self, session):
        self.session = session

    def _save(self, obj):
        """Add and commit; the commit only releases a savepoint inside the test's transaction."""
        self.session.add(obj)
        self.session.commit()
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
        n = next(_sequence)
        values = {
            "slug": f"group-{n}",
            "name": f"Group {n}",
            "description": "A test group.",
            "region": "Bilbao",
            "membership_policy": MembershipPolicy.OPEN,
        }
        values.update(overrides)
        group = self._save(Group(**values))
        self.membership(group, admin or self.user(), role=Role.ADMIN)
        return group

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
