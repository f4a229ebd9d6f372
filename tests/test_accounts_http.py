"""Accounts through the web: sign-up, log-in, sessions, passwords, cookies, limits."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tecopio.accounts.models import SignupRequest, User
from tecopio.accounts.passwords import verify_password
from tests.factories import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def user_count(db_session):
    return db_session.scalar(select(func.count(User.id)))


def signup(client, **overrides):
    data = {"email": "ane@example.com", "display_name": "Ane", "password": "kelp forest walk"}
    data.update(overrides)
    return client.submit("/signup", data)


def signup_requests(db_session) -> int:
    return db_session.scalar(select(func.count(SignupRequest.id)))


def link_in(message) -> str:
    match = re.search(r"http://localhost(/signup/confirm/\S+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def test_signup_sends_a_link_and_the_link_makes_the_account(client, db_session, mail):
    response = signup(client)
    assert response.status_code == 200
    assert "Check your email" in response.text
    assert user_count(db_session) == 0
    (message,) = mail
    assert message["To"] == "ane@example.com"
    link = link_in(message)
    # Opening the link (a mail scanner might) makes nothing: one button does.
    page = client.get(link)
    assert page.status_code == 200
    assert "ane@example.com" in page.text and "Create my account" in page.text
    assert user_count(db_session) == 0
    made = client.submit(link, {"password": "kelp forest walk"})
    assert (made.status_code, made.headers["Location"]) == (302, "/")
    user = db_session.scalar(select(User).where(User.email == "ane@example.com"))
    assert user.display_name == "Ane"
    assert verify_password(user.password_hash, "kelp forest walk")
    assert "Hello, Ane" in client.get("/").text
    assert signup_requests(db_session) == 0
    assert client.get(link).status_code == 400  # used


@pytest.mark.parametrize(
    "next_url, expected", [("/groups/", "/groups/"), ("https://evil.example/", "/")]
)
def test_signup_follows_a_safe_next(client, mail, next_url, expected):
    signup(client, next=next_url)
    response = client.submit(link_in(mail[0]), {"password": "kelp forest walk"})
    assert response.headers["Location"] == expected


def page_without_tokens(response) -> str:
    return re.sub(r'(name="csrf[-_]token" (content|value)=")[^"]+', r"\1", response.text)


def test_signup_answers_the_same_whether_or_not_the_address_has_an_account(
    make_client, db_session, make, mail
):
    owner = make.user(email="ane@example.com", display_name="Ane")
    taken = signup(make_client(), email="ANE@example.com")
    free = signup(make_client(), email="iker@example.com")
    assert taken.status_code == free.status_code == 200
    assert page_without_tokens(taken).replace("ane@example.com", "X") == page_without_tokens(
        free
    ).replace("iker@example.com", "X")
    # The owner is told by email, with no link that changes anything; nothing is stored.
    to_owner = next(m for m in mail if m["To"].lower() == "ane@example.com")
    assert "already has one" in to_owner.get_content()
    assert "/signup/confirm/" not in to_owner.get_content()
    assert user_count(db_session) == 2 - 1 and signup_requests(db_session) == 1
    assert verify_password(owner.password_hash, PASSWORD)


def test_an_expired_or_forged_link_is_refused_and_expired_requests_are_purged(
    client, db_session, mail, app
):
    from tecopio.accounts.services import purge_expired_signups
    from tecopio.db import utcnow

    signup(client)
    link = link_in(mail[0])
    assert client.get(link + "x").status_code == 400
    assert client.get("/signup/confirm/" + "a" * 300).status_code == 400
    request = db_session.scalar(select(SignupRequest))
    request.expires_at = utcnow() - timedelta(seconds=1)
    db_session.commit()
    refused = client.submit(link, {"password": "kelp forest walk"})
    assert refused.status_code == 400 and "sign up again" in refused.text
    assert user_count(db_session) == 0
    assert purge_expired_signups(db_session) == 1
    assert signup_requests(db_session) == 0


def test_someone_elses_pending_signup_cannot_hand_over_an_account(make_client, db_session, mail):
    """An attacker signs up with Ane's address first, with a password of their own. Ane
    opening that link cannot make the account with it: it asks for the password chosen
    with the link. Her own link makes hers, and the attacker's then makes nothing."""
    signup(make_client(), password="attacker passphrase")
    ane = make_client()
    signup(ane)
    attackers_link, anes_link = link_in(mail[0]), link_in(mail[1])
    wrong = ane.submit(attackers_link, {"password": "kelp forest walk"})
    assert wrong.status_code == 400 and "not the password chosen with this link" in wrong.text
    assert user_count(db_session) == 0 and signup_requests(db_session) == 2
    assert ane.submit(anes_link, {"password": "kelp forest walk"}).status_code == 302
    user = db_session.scalar(select(User).where(User.email == "ane@example.com"))
    assert verify_password(user.password_hash, "kelp forest walk")
    gone = make_client().submit(attackers_link, {"password": "attacker passphrase"})
    assert gone.status_code == 400
    assert user_count(db_session) == 1


def test_a_signed_in_person_is_never_swapped_into_the_new_account(client, make, db_session, mail):
    signup(client)
    link = link_in(mail[0])
    someone = make.user(display_name="Jon")
    client.submit("/login", {"email": someone.email, "password": PASSWORD})
    page = client.get(link)
    assert page.status_code == 200 and "You are logged in as Jon" in page.text
    refused = client.submit(link, {"password": "kelp forest walk"})
    assert refused.status_code == 409
    assert user_count(db_session) == 1  # only Jon
    assert "Hello, Jon" in client.get("/").text


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"email": ""}, "Enter your email address."),
        ({"email": "a" * 250 + "@example.com"}, "Use at most 254 characters."),
        ({"password": "short"}, "Use at least 8 characters."),
        ({"password": "p" * 129}, "Use at most 128 characters."),
        ({"password": "password123"}, "most common"),
        ({"display_name": ""}, "This field is required."),
        ({"display_name": "<b>Ane</b>"}, "The characters &lt; and &gt; are not allowed here."),
        ({"display_name": "A" * 81}, "Use at most 80 characters."),
    ],
)
def test_signup_refuses_bad_input_with_a_message_and_writes_nothing(
    client, db_session, overrides, message
):
    response = signup(client, **overrides)
    assert response.status_code == 400
    assert message in response.text
    assert user_count(db_session) == signup_requests(db_session) == 0


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_forms_without_a_valid_csrf_token_are_refused(client, db_session, token):
    data = {"email": "ane@example.com", "display_name": "Ane", "password": "kelp forest walk"}
    if token:
        data["csrf_token"] = token
    response = client.post("/signup", data=data)
    assert response.status_code == 400
    assert "did not come from this site" in response.text
    assert user_count(db_session) == 0


def test_login_and_logout(client, make):
    user = make.user(display_name="Jon")
    response = client.submit("/login", {"email": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 302
    assert "Hello, Jon" in client.get("/").text
    response = client.submit("/", action="/logout")
    assert response.status_code == 302
    assert "Hello, Jon" not in client.get("/").text


def test_login_refuses_a_wrong_password_without_saying_which_part_was_wrong(client, make):
    user = make.user()
    for email, password in [(user.email, "wrong password"), ("nobody@example.com", PASSWORD)]:
        response = client.submit("/login", {"email": email, "password": password})
        assert response.status_code == 400
        assert "The email or password is not correct." in response.text


@pytest.mark.parametrize(
    "next_url, expected",
    [
        ("/groups/", "/groups/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_login_redirects_only_within_the_site(client, make, next_url, expected):
    user = make.user()
    response = client.submit(
        "/login", {"email": user.email, "password": PASSWORD, "next": next_url}
    )
    assert response.headers["Location"] == expected


def test_login_starts_a_new_session(client, make):
    """Nothing from before log-in survives it: a form token taken before is refused after."""
    token_before = client.csrf_token()
    user = make.user()
    client.submit("/login", {"email": user.email, "password": PASSWORD})
    response = client.post(
        "/account", data={"csrf_token": token_before, "display_name": "Changed", "locale": ""}
    )
    assert response.status_code == 400
    assert user.display_name != "Changed"


def test_pages_for_members_send_anonymous_visitors_to_log_in(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_logout_ends_the_users_other_sessions(make_client, make):
    user = make.user()
    phone, laptop = make_client(), make_client()
    for browser in (phone, laptop):
        browser.submit("/login", {"email": user.email, "password": PASSWORD})
        assert browser.get("/account").status_code == 200
    phone.submit("/", action="/logout")
    assert laptop.get("/account").status_code == 302


def test_remember_me_cookie_survives_the_session_and_is_revoked_by_logout(make_client, make):
    user = make.user()
    laptop = make_client()
    laptop.submit("/login", {"email": user.email, "password": PASSWORD, "remember": "y"})
    remember = laptop.get_cookie("tecopio_remember")
    assert remember is not None
    # The browser is closed: the session cookie is gone, the remember cookie stays.
    laptop.delete_cookie("tecopio_session")
    assert laptop.get("/account").status_code == 200
    other = make_client()
    other.submit("/login", {"email": user.email, "password": PASSWORD})
    other.submit("/", action="/logout")
    laptop.delete_cookie("tecopio_session")
    assert laptop.get("/account").status_code == 302


def test_remember_me_ends_after_its_duration_whatever_the_browser_keeps(app, make_client, make):
    user = make.user()
    laptop = make_client()
    laptop.submit("/login", {"email": user.email, "password": PASSWORD, "remember": "y"})
    laptop.delete_cookie("tecopio_session")
    assert laptop.get("/account").status_code == 200
    duration = app.config["REMEMBER_COOKIE_DURATION"]
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(seconds=-1)
    try:
        laptop.delete_cookie("tecopio_session")
        assert laptop.get("/account").status_code == 302
    finally:
        app.config["REMEMBER_COOKIE_DURATION"] = duration


def test_change_password_keeps_this_session_and_ends_the_others(make_client, make, db_session):
    user = make.user()
    here, elsewhere = make_client(), make_client()
    for browser in (here, elsewhere):
        browser.submit("/login", {"email": user.email, "password": PASSWORD})
    response = here.submit(
        "/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302
    db_session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"current_password": "wrong one!", "new_password": NEW_PASSWORD}, "not correct"),
        ({"current_password": PASSWORD, "new_password": "short"}, "at least 8"),
        ({"current_password": PASSWORD, "new_password": "12345678"}, "most common"),
        ({"current_password": PASSWORD, "new_password": "{email}"}, "must not be your email"),
    ],
)
def test_change_password_refusals(client, auth, db_session, data, message):
    user = auth.login()
    old_hash = user.password_hash
    data = {key: value.format(email=user.email) for key, value in data.items()}
    response = client.submit("/account/password", data)
    assert response.status_code == 400
    assert message in response.text
    db_session.refresh(user)
    assert user.password_hash == old_hash


def reset_link(message) -> str:
    match = re.search(r"http://localhost(/reset/\S+)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def test_password_reset_by_email(client, make, mail, db_session):
    user = make.user(email="maite@example.com")
    response = client.submit("/reset", {"email": "Maite@example.com"})
    assert response.status_code == 200
    assert "If an account exists for maite@example.com" in response.text
    assert len(mail) == 1
    assert mail[0]["To"] == "maite@example.com"
    link = reset_link(mail[0])
    assert client.get(link).status_code == 200
    response = client.submit(link, {"password": NEW_PASSWORD})
    assert response.status_code == 302
    db_session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)
    # The link works once.
    assert client.get(link).status_code == 400
    response = client.submit("/login", {"email": user.email, "password": NEW_PASSWORD})
    assert response.status_code == 302


def test_reset_links_ignore_the_host_the_request_names(client, make, mail):
    """A forged Host header must not send the victim a link to someone else's site."""
    user = make.user()
    client.submit("/reset", {"email": user.email}, headers={"Host": "evil.example"})
    assert len(mail) == 1
    assert "evil.example" not in mail[0].get_content()
    assert reset_link(mail[0]).startswith("/reset/")


def test_reset_refuses_the_email_address_as_new_password(client, make, mail, db_session):
    user = make.user()
    client.submit("/reset", {"email": user.email})
    response = client.submit(reset_link(mail[0]), {"password": user.email})
    assert response.status_code == 400
    assert "must not be your email" in response.text
    db_session.refresh(user)
    assert verify_password(user.password_hash, PASSWORD)


def test_password_reset_for_an_unknown_email_looks_the_same_and_sends_nothing(client, mail):
    response = client.submit("/reset", {"email": "nobody@example.com"})
    assert response.status_code == 200
    assert "If an account exists for nobody@example.com" in response.text
    assert mail == []


def test_password_reset_ends_every_session(make_client, make, mail):
    user = make.user()
    logged_in = make_client()
    logged_in.submit("/login", {"email": user.email, "password": PASSWORD})
    other = make_client()
    other.submit("/reset", {"email": user.email})
    other.submit(reset_link(mail[0]), {"password": NEW_PASSWORD})
    assert logged_in.get("/account").status_code == 302


def test_tampered_or_expired_reset_links_are_refused(app, client, make, mail, db_session):
    user = make.user()
    client.submit("/reset", {"email": user.email})
    link = reset_link(mail[0])
    response = client.get(link[:-3] + "abc")
    assert response.status_code == 400
    assert "not valid" in response.text
    app.config["PASSWORD_RESET_MAX_AGE"] = -1
    try:
        response = client.submit(link, {"password": NEW_PASSWORD})
    finally:
        app.config["PASSWORD_RESET_MAX_AGE"] = 3600
    assert response.status_code == 400
    assert "expired" in response.text
    db_session.refresh(user)
    assert verify_password(user.password_hash, PASSWORD)


def test_login_attempts_are_rate_limited(client, make):
    user = make.user()
    statuses = [
        client.submit("/login", {"email": user.email, "password": "wrong guess!"}).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [400] * 10
    assert statuses[10] == 429
    response = client.submit("/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many attempts" in response.text


def test_password_reset_requests_are_rate_limited(client, make):
    statuses = [
        client.submit("/reset", {"email": "nobody@example.com"}).status_code for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]


def test_profile_update(client, auth, db_session):
    user = auth.login()
    response = client.submit("/account", {"display_name": "Maite R.", "locale": "eu"})
    assert response.status_code == 302
    db_session.refresh(user)
    assert (user.display_name, user.locale) == ("Maite R.", "eu")


@pytest.mark.parametrize(
    "data",
    [
        {"display_name": "", "locale": ""},
        {"display_name": "<img src=x onerror=alert(1)>", "locale": ""},
        {"display_name": "Maite", "locale": "fr"},
    ],
)
def test_profile_refuses_bad_input(client, auth, db_session, data):
    user = auth.login()
    name = user.display_name
    response = client.submit("/account", data)
    assert response.status_code == 400
    db_session.refresh(user)
    assert user.display_name == name
    assert user.locale is None
