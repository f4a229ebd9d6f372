"""Account rules, tested at the service level."""

import time

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import func, select

from tecopio.accounts import services
from tecopio.accounts.models import User
from tecopio.accounts.passwords import (
    PasswordRejected,
    check_password_policy,
    common_passwords,
    hash_password,
    verify_password,
)
from tecopio.config import DefaultConfig
from tecopio.text import InvalidText
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("app_ctx")
SECRET = "test-secret-key"


def count_users(session):
    return session.scalar(select(func.count(User.id)))


def register(session, **overrides):
    values = {
        "email": "Ane@Example.com",
        "password": "a long enough passphrase",
        "display_name": "Ane",
    }
    values.update(overrides)
    return services.register_user(session, **values)


def test_register_stores_lower_cased_email_and_an_argon2id_hash(db_session):
    user = register(db_session)
    assert user.email == "ane@example.com"
    assert user.password_hash.startswith("$argon2id$")
    assert "a long enough passphrase" not in user.password_hash
    assert user.session_version == 1


@pytest.mark.parametrize("email", ["ane@example.com", "ANE@EXAMPLE.COM", "  Ane@example.com "])
def test_register_refuses_an_email_already_taken_in_any_case(db_session, email):
    register(db_session)
    before = count_users(db_session)
    with pytest.raises(services.EmailTaken):
        register(db_session, email=email)
    assert count_users(db_session) == before


@pytest.mark.parametrize(
    "password, reason",
    [
        ("short", "at least 8"),
        ("seven77", "at least 8"),
        ("x" * 129, "at most 128"),
        ("password", "common"),
        ("Password1", "common"),
        ("iloveyou", "common"),
        ("qwertyuiop", "common"),
        ("ane@example.com", "email"),
    ],
)
def test_register_refuses_weak_passwords(db_session, password, reason):
    with pytest.raises(PasswordRejected) as refused:
        register(db_session, password=password)
    assert reason in str(refused.value)
    assert count_users(db_session) == 0


@pytest.mark.parametrize(
    "password", ["kelpwave", "only lowercase words here", "ñandú y txakoli " * 4, "zq" * 64]
)
def test_passwords_of_8_to_128_characters_without_composition_rules_are_accepted(password):
    check_password_policy(password)


def test_the_common_password_list_is_large():
    assert len(common_passwords()) > 10_000


@pytest.mark.parametrize(
    "name, reason",
    [
        ("", "required"),
        ("   ", "required"),
        ("<b>Ane</b>", "not allowed"),
        ("Ane<script>", "not allowed"),
        ("x" * 81, "at most 80"),
        ("Ane\x07", "control"),
        ("Ane\u202e", "invisible formatting"),
        ("A\u200bne", "invisible formatting"),
    ],
)
def test_register_refuses_bad_display_names(db_session, name, reason):
    with pytest.raises(InvalidText) as refused:
        register(db_session, display_name=name)
    assert reason in str(refused.value)
    assert count_users(db_session) == 0


def test_authenticate_accepts_the_right_password_in_any_email_case(db_session, make):
    user = make.user(email="jon@example.com")
    assert services.authenticate(db_session, "JON@example.com", PASSWORD) is user


@pytest.mark.parametrize(
    "email, password",
    [("jon@example.com", "wrong password!"), ("nobody@example.com", PASSWORD), ("", "")],
)
def test_authenticate_refuses_wrong_credentials(db_session, make, email, password):
    make.user(email="jon@example.com")
    assert services.authenticate(db_session, email, password) is None


def test_authenticate_rehashes_a_hash_made_with_weaker_parameters(db_session, make):
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    user = make.user(password_hash=weak)
    assert services.authenticate(db_session, user.email, PASSWORD) is user
    assert user.password_hash != weak
    assert verify_password(user.password_hash, PASSWORD)


def test_default_hash_parameters_are_argon2_cffi_defaults(app):
    """Production uses argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)."""
    assert DefaultConfig.PASSWORD_HASH_PROFILE == "RFC_9106_LOW_MEMORY"
    params = PasswordHasher.from_parameters(getattr(profiles, DefaultConfig.PASSWORD_HASH_PROFILE))
    default = PasswordHasher()
    assert (params.time_cost, params.memory_cost, params.parallelism) == (
        default.time_cost,
        default.memory_cost,
        default.parallelism,
    )
    assert params.hash("x").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_verify_password_is_false_for_garbage_hashes():
    assert verify_password("not a hash", "anything") is False
    assert verify_password(hash_password("right password"), "wrong password") is False


def test_change_password_needs_the_current_password(db_session, make):
    user = make.user()
    old_hash = user.password_hash
    with pytest.raises(services.WrongPassword):
        services.change_password(user, current_password="not it", new_password="new passphrase 1")
    assert user.password_hash == old_hash
    assert user.session_version == 1


def test_change_password_ends_every_session(db_session, make):
    user = make.user()
    services.change_password(user, current_password=PASSWORD, new_password="new passphrase 1")
    assert verify_password(user.password_hash, "new passphrase 1")
    assert user.session_version == 2


def test_change_password_applies_the_policy(db_session, make):
    user = make.user()
    with pytest.raises(PasswordRejected):
        services.change_password(user, current_password=PASSWORD, new_password="12345678")
    assert verify_password(user.password_hash, PASSWORD)


def test_reset_token_round_trip(db_session, make):
    user = make.user()
    token = services.make_reset_token(user, SECRET)
    assert services.user_from_reset_token(db_session, token, SECRET, 3600) is user


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "x" + t,
        lambda t: "",
        lambda t: "not.a.token",
    ],
)
def test_tampered_reset_tokens_are_refused(db_session, make, tamper):
    user = make.user()
    token = services.make_reset_token(user, SECRET)
    with pytest.raises(services.InvalidResetLink):
        services.user_from_reset_token(db_session, tamper(token), SECRET, 3600)


def test_reset_token_signed_with_another_key_is_refused(db_session, make):
    token = services.make_reset_token(make.user(), "another key")
    with pytest.raises(services.InvalidResetLink):
        services.user_from_reset_token(db_session, token, SECRET, 3600)


def test_expired_reset_token_is_refused(db_session, make):
    token = services.make_reset_token(make.user(), SECRET)
    time.sleep(1.1)
    with pytest.raises(services.ExpiredResetLink):
        services.user_from_reset_token(db_session, token, SECRET, 0)


def test_reset_token_is_single_use(db_session, make):
    user = make.user()
    token = services.make_reset_token(user, SECRET)
    services.set_password(user, "brand new passphrase")
    with pytest.raises(services.InvalidResetLink):
        services.user_from_reset_token(db_session, token, SECRET, 3600)


def test_update_profile_validates_name_and_locale(db_session, make):
    user = make.user()
    services.update_profile(user, display_name="  Maite  Ruiz ", locale="eu")
    assert (user.display_name, user.locale) == ("Maite Ruiz", "eu")
    services.update_profile(user, display_name="Maite", locale="klingon")
    assert user.locale is None
    with pytest.raises(InvalidText):
        services.update_profile(user, display_name="<i>Maite</i>", locale="es")
