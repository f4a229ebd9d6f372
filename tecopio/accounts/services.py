"""Account rules: registration, authentication, passwords, sessions and profiles."""

import hashlib
import hmac
import secrets
import unicodedata
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tecopio import tokens
from tecopio.accounts.models import SignupRequest, User
from tecopio.accounts.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    password_hasher,
    verify_password,
)
from tecopio.config import LANGUAGES
from tecopio.db import utcnow
from tecopio.text import clean_line, normalise_email

RESET_PURPOSE = "password-reset"
DISPLAY_NAME_MAX = 80


class AccountError(Exception):
    message = _l("This could not be done.")

    def __init__(self, message=None):
        super().__init__(str(message or self.message))
        if message is not None:
            self.message = message


class EmailTaken(AccountError):
    message = _l("An account with this email address already exists.")


class InvalidSignupLink(AccountError):
    message = _l(
        "This link to finish signing up is not valid or has expired. Please sign up again."
    )


class WrongPassword(AccountError):
    message = _l("The current password is not correct.")


class InvalidResetLink(AccountError):
    message = _l("This password reset link is not valid. Please ask for a new one.")


class ExpiredResetLink(InvalidResetLink):
    message = _l("This password reset link has expired. Please ask for a new one.")


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == normalise_email(email)))


def register_user(
    session: Session, *, email: str, password: str, display_name: str, locale: str | None = None
) -> User:
    """Create an account. Raises ``EmailTaken``, ``PasswordRejected`` or ``InvalidText``."""
    email = normalise_email(email)
    display_name = clean_line(display_name, max_length=DISPLAY_NAME_MAX)
    check_password_policy(password, email=email)
    if find_user_by_email(session, email) is not None:
        raise EmailTaken()
    user = User(
        email=email,
        display_name=display_name,
        password_hash=hash_password(password),
        locale=locale if locale in LANGUAGES else None,
    )
    session.add(user)
    session.flush()
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_signup(
    session: Session,
    *,
    email: str,
    password: str,
    display_name: str,
    locale: str | None,
    next_url: str,
    valid_hours: int,
    now: datetime | None = None,
) -> str | None:
    """A sign-up waiting for its link: the link's token, or None when the address has an account.

    The password is checked and hashed in both cases, so neither the answer
    nor the time it takes tells whether the address is registered. Raises
    ``PasswordRejected`` or ``InvalidText``, whatever the address.
    """
    now = now or utcnow()
    email = normalise_email(email)
    display_name = clean_line(display_name, max_length=DISPLAY_NAME_MAX)
    check_password_policy(password, email=email)
    password_hash = hash_password(password)
    if find_user_by_email(session, email) is not None:
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        SignupRequest(
            email=email,
            display_name=display_name,
            password_hash=password_hash,
            locale=locale if locale in LANGUAGES else None,
            next_url=next_url[:500],
            token_digest=_digest(token),
            created_at=now,
            expires_at=now + timedelta(hours=valid_hours),
        )
    )
    session.flush()
    return token


def pending_signup(session: Session, token: str, now: datetime | None = None) -> SignupRequest:
    request = session.scalar(
        select(SignupRequest).where(SignupRequest.token_digest == _digest(token[:200]))
    )
    if request is None or request.expires_at <= (now or utcnow()):
        raise InvalidSignupLink()
    return request


class WrongSignupPassword(AccountError):
    message = _l(
        "This is not the password chosen with this link. If you did not sign up with it, "
        "ignore it and use the link of your own sign-up."
    )


def complete_signup(session: Session, request: SignupRequest, password: str) -> User:
    """The account, from the sign-up its owner confirmed; every other request for it goes.

    ``password`` must be the one chosen with this request: the owner of the
    address opening someone else's pending sign-up for it (made to hand them
    an account with a password the other person knows) makes nothing.
    Raises ``WrongSignupPassword``, or ``EmailTaken`` when the address got an
    account meanwhile (from an earlier link): only its owner sees that answer.
    """
    if not verify_password(request.password_hash, password):
        raise WrongSignupPassword()
    if find_user_by_email(session, request.email) is not None:
        session.execute(delete(SignupRequest).where(SignupRequest.email == request.email))
        raise EmailTaken()
    user = User(
        email=request.email,
        display_name=request.display_name,
        password_hash=request.password_hash,
        locale=request.locale,
    )
    session.add(user)
    session.execute(delete(SignupRequest).where(SignupRequest.email == request.email))
    session.flush()
    return user


def purge_expired_signups(session: Session, now: datetime | None = None) -> int:
    """Sign-ups nobody confirmed in time: nothing of them is kept.

    Only writes when something expired: on SQLite a write every run would
    keep colliding with requests that read, then write.
    """
    expired = SignupRequest.expires_at <= (now or utcnow())
    if session.scalar(select(SignupRequest.id).where(expired).limit(1)) is None:
        return 0
    return session.execute(delete(SignupRequest).where(expired)).rowcount or 0


# Verifying against a real hash when the email is unknown keeps the response
# time the same, so that timing does not reveal which emails have accounts.
_UNKNOWN_USER_HASH: dict[str, str] = {}


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = find_user_by_email(session, email)
    if user is None:
        hasher = password_hasher()
        key = f"{hasher.time_cost}:{hasher.memory_cost}:{hasher.parallelism}"
        dummy = _UNKNOWN_USER_HASH.setdefault(key, hasher.hash("tecopio-unknown-user"))
        verify_password(dummy, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def end_all_sessions(user: User) -> None:
    """Invalidate every session and remember-me cookie of this user."""
    user.session_version += 1


def set_password(user: User, new_password: str) -> None:
    check_password_policy(new_password, email=user.email)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    end_all_sessions(user)


def change_password(user: User, *, current_password: str, new_password: str) -> None:
    if not verify_password(user.password_hash, current_password):
        raise WrongPassword()
    set_password(user, new_password)


REGION_MAX = 100


def update_profile(
    user: User,
    *,
    display_name: str,
    locale: str | None,
    region: str | None = None,
    email_notifications: bool | None = None,
) -> None:
    """The profile's fields; ``email_notifications`` None leaves that choice as it is."""
    user.display_name = clean_line(display_name, max_length=DISPLAY_NAME_MAX)
    if email_notifications is not None:
        user.email_notifications = email_notifications
    user.locale = locale if locale in LANGUAGES else None
    user.region = clean_line(region, max_length=REGION_MAX, required=False) or None
    if region_key(user.region) != user.region_key:
        user.region_key = region_key(user.region)
        user.region_changed_at = utcnow()


def region_key(region: str | None) -> str | None:
    """How regions are compared: without case, accents or extra spaces."""
    if not region:
        return None
    plain = unicodedata.normalize("NFKD", region).encode("ascii", "ignore").decode()
    return " ".join(plain.casefold().split())[:100] or None


def _password_fingerprint(user: User) -> str:
    """Changes whenever the password does, and reveals nothing of the hash."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:20]


def make_reset_token(user: User, secret_key: str) -> str:
    # The fingerprint makes the link single-use: once the password changes,
    # the link no longer matches.
    return tokens.sign(secret_key, RESET_PURPOSE, {"u": user.id, "h": _password_fingerprint(user)})


def user_from_reset_token(session: Session, token: str, secret_key: str, max_age: int) -> User:
    try:
        payload = tokens.unsign(secret_key, RESET_PURPOSE, token, max_age=max_age)
    except tokens.TokenExpired as exc:
        raise ExpiredResetLink() from exc
    except tokens.TokenError as exc:
        raise InvalidResetLink() from exc
    if not isinstance(payload, dict):
        raise InvalidResetLink()
    user = session.get(User, payload.get("u"))
    if user is None or not hmac.compare_digest(_password_fingerprint(user), str(payload.get("h"))):
        raise InvalidResetLink()
    return user
