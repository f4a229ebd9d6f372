"""Password policy and hashing (argon2id).

The policy follows NIST SP 800-63B / OWASP ASVS: 8 to 128 characters, no
composition rules, and the most common passwords refused. The list of common
passwords (about 20,000) is the one Django ships, itself taken from Royce
Williams' public list of leaked passwords.
"""

import gzip
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common-passwords.txt.gz")


class PasswordRejected(ValueError):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip().lower() for line in lines if line.strip())


def check_password_policy(password: str, *, email: str | None = None) -> None:
    """Raise ``PasswordRejected`` with a reason a person understands."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(_l("Use at least %(n)d characters.", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(_l("Use at most %(n)d characters.", n=MAX_LENGTH))
    if password.lower() in common_passwords():
        raise PasswordRejected(
            _l("This password is one of the most common ones and easy to guess. Choose another.")
        )
    if email and password.lower() == email.lower():
        raise PasswordRejected(_l("Your password must not be your email address."))


@cache
def _hasher(profile_name: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(getattr(profiles, profile_name))


def password_hasher() -> PasswordHasher:
    profile = "RFC_9106_LOW_MEMORY"
    if has_app_context():
        profile = current_app.config["PASSWORD_HASH_PROFILE"]
    return _hasher(profile)


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return password_hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return password_hasher().check_needs_rehash(password_hash)
