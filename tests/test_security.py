"""Headers, cookies, limits and configuration that keep the site safe."""

import pytest
from flask import Response
from sqlalchemy import func, select

from tecopio import create_app
from tecopio.config import DEV_SECRET_KEY
from tecopio.directory.models import Company
from tecopio.groups.models import Group
from tecopio.security import safe_next
from tecopio.text import InvalidText, clean_line
from tests.factories import PASSWORD


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/groups/", "/groups/"),
        ("/groups/?q=bilbao", "/groups/?q=bilbao"),
        (None, "/home"),
        ("", "/home"),
        ("groups", "/home"),
        ("http://evil.example/", "/home"),
        ("https://evil.example/x", "/home"),
        ("//evil.example", "/home"),
        ("/\\evil.example", "/home"),
        ("\\\\evil.example", "/home"),
        ("javascript:alert(1)", "/home"),
        ("/\r\nLocation: http://evil.example", "/home"),
        ("  //evil.example", "/home"),
    ],
)
def test_safe_next_only_allows_paths_on_this_site(target, expected):
    assert safe_next(target, "/home") == expected


def test_security_headers_on_every_page(client):
    for url in ("/", "/login", "/no-such-page"):
        headers = client.get(url).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_session_and_remember_cookies_are_httponly_and_samesite_lax(client, make):
    user = make.user()
    response = client.submit("/login", {"email": user.email, "password": PASSWORD, "remember": "y"})
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("tecopio_session="))
    remember_cookie = next(c for c in cookies if c.startswith("tecopio_remember="))
    for cookie in (session_cookie, remember_cookie):
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
    assert "Expires=" in remember_cookie


def test_production_refuses_the_development_secret_key(database_url):
    for key in (DEV_SECRET_KEY, ""):
        with pytest.raises(RuntimeError, match="SECRET_KEY"):
            create_app(
                {
                    "TECOPIO_ENV": "production",
                    "PUBLIC_URL": "https://tecopio.example.org",
                    "SECRET_KEY": key,
                    "SQLALCHEMY_DATABASE_URI": database_url,
                }
            )


def test_production_marks_cookies_secure_and_finite(database_url):
    app = create_app(
        {
            "TECOPIO_ENV": "production",
            "PUBLIC_URL": "https://tecopio.example.org",
            "SECRET_KEY": "a real secret",
            "SQLALCHEMY_DATABASE_URI": database_url,
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() <= 24 * 3600
    assert app.config["REMEMBER_COOKIE_DURATION"].days <= 31
    assert app.config["MAIL_BACKEND"] == "smtp"


def test_production_refuses_to_start_without_its_public_address(database_url):
    with pytest.raises(RuntimeError, match="PUBLIC_URL"):
        create_app(
            {
                "TECOPIO_ENV": "production",
                "SECRET_KEY": "a real secret",
                "SQLALCHEMY_DATABASE_URI": database_url,
            }
        )


def test_production_cookies_carry_the_secure_flag(database_url):
    app = create_app(
        {
            "TECOPIO_ENV": "production",
            "PUBLIC_URL": "https://tecopio.example.org",
            "SECRET_KEY": "a real secret",
            "SQLALCHEMY_DATABASE_URI": database_url,
        }
    )
    cookie = app.test_client().get("/login").headers["Set-Cookie"]
    assert cookie.startswith("tecopio_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_unknown_environment_is_refused(database_url):
    with pytest.raises(RuntimeError, match="TECOPIO_ENV"):
        create_app({"TECOPIO_ENV": "staging", "SQLALCHEMY_DATABASE_URI": database_url})


def test_an_unknown_job_queue_is_refused(database_url):
    with pytest.raises(ValueError, match="JOBS_BACKEND"):
        create_app(
            {
                "TECOPIO_ENV": "testing",
                "SQLALCHEMY_DATABASE_URI": database_url,
                "JOBS_BACKEND": "threads",
            }
        )


def test_settings_come_from_the_environment(monkeypatch, database_url):
    monkeypatch.setenv("SECRET_KEY", "from the environment")
    monkeypatch.setenv("PUBLIC_URL", "https://tecopio.example.org")
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@db.internal/tecopio")
    monkeypatch.setenv("MAIL_PORT", "2525")
    monkeypatch.setenv("MAIL_USE_TLS", "true")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from the environment"
    assert (
        app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://someone@db.internal/tecopio"
    )
    assert (app.config["MAIL_PORT"], app.config["MAIL_USE_TLS"]) == (2525, True)


def test_request_bodies_are_capped(client):
    response = client.post("/login", data={"email": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert "too large" in response.text


def test_unknown_pages_get_a_friendly_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert 'href="/"' in response.text


def test_wrong_method_gets_a_friendly_405(client):
    response = client.get("/logout")
    assert response.status_code == 405
    assert "not available" in response.text


def test_unexpected_errors_get_a_friendly_500(database_url):
    app = create_app(
        {"TECOPIO_ENV": "testing", "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": database_url}
    )

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "RuntimeError" not in response.text


# --- caching and HSTS -------------------------------------------------------------------


def production_app(database_url, **config):
    return create_app(
        {
            "TECOPIO_ENV": "production",
            "PUBLIC_URL": "https://tecopio.example.org",
            "SECRET_KEY": "a real secret",
            "SQLALCHEMY_DATABASE_URI": database_url,
            **config,
        }
    )


def test_pages_of_a_logged_in_person_and_every_download_are_never_stored(client, auth):
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    auth.login()
    for url in (
        "/",
        "/account",
        "/my/data",
        "/my/preferences",
        "/my/import",
        "/my/erase",
        "/my/import/template-preferences.csv",
        "/no-such-page",
    ):
        assert client.get(url).headers.get("Cache-Control") == "no-store", url
    export = client.submit("/", action="/my/export")
    assert export.mimetype == "application/zip"
    assert export.headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/style.css").headers.get("Cache-Control", "")


def test_every_download_is_never_stored_even_for_someone_logged_out(database_url):
    # As the analytics CSVs (/groups/<slug>/analytics/<name>.csv) are sent.
    app = create_app(
        {"TECOPIO_ENV": "testing", "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": database_url}
    )

    @app.get("/figures.csv")
    def figures():
        return Response(
            "a,b\n",
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="figures.csv"'},
        )

    assert app.test_client().get("/figures.csv").headers["Cache-Control"] == "no-store"


def test_production_sends_hsts_for_two_years_with_subdomains(database_url):
    response = production_app(database_url).test_client().get("/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"


def test_hsts_can_be_left_to_the_proxy(database_url):
    response = production_app(database_url, HSTS_SECONDS=0).test_client().get("/login")
    assert "Strict-Transport-Security" not in response.headers
    response = production_app(database_url, HSTS_SECONDS=300).test_client().get("/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=300; includeSubDomains"


def test_hsts_seconds_come_from_the_environment(monkeypatch, database_url):
    monkeypatch.setenv("HSTS_SECONDS", "0")
    app = production_app(database_url)
    assert app.config["HSTS_SECONDS"] == 0


def test_no_hsts_outside_production(client):
    response = client.get("/login", base_url="https://localhost")
    assert "Strict-Transport-Security" not in response.headers


# --- invisible characters in names -------------------------------------------------------

# Right-to-left override, zero-width space, isolates, byte-order mark, soft hyphen,
# zero-width joiner, Arabic letter mark, invisible times, a tag character.
INVISIBLE = ["\u202e", "\u200b", "\u2066", "\u2069", "\ufeff", "\u00ad", "\u200d", "\u061c"]
INVISIBLE += ["\u2062", "\U000e0041"]


@pytest.mark.parametrize("char", INVISIBLE)
def test_single_line_texts_refuse_invisible_formatting_characters(char):
    with pytest.raises(InvalidText, match="invisible formatting characters"):
        clean_line(f"Ane{char}Etxeberria", max_length=80)
    with pytest.raises(InvalidText):
        clean_line(f"{char}Ane", max_length=80)


@pytest.mark.parametrize(
    "url, data, field",
    [
        (
            "/groups/new",
            {"name": "Fine", "description": "", "region": "", "membership_policy": "open"},
            "name",
        ),
        (
            "/groups/new",
            {"name": "Fine", "description": "", "region": "", "membership_policy": "open"},
            "region",
        ),
        ("/account", {"display_name": "Maite", "region": "", "locale": ""}, "display_name"),
        ("/account", {"display_name": "Maite", "region": "", "locale": ""}, "region"),
        ("/companies/new", {"name": "Txirrinda", "website": "", "sector_id": ""}, "name"),
    ],
)
def test_forms_refuse_names_with_invisible_characters_and_write_nothing(
    client, auth, db_session, url, data, field
):
    user = auth.login()
    before = (user.display_name, user.region)
    response = client.submit(url, {**data, field: "Invoice\u202eexe.pdf"})
    assert response.status_code == 400
    assert "This text contains invisible formatting characters" in response.text
    db_session.refresh(user)
    assert (user.display_name, user.region) == before
    assert db_session.scalar(select(func.count(Group.id))) == 0
    assert db_session.scalar(select(func.count(Company.id))) == 0


@pytest.mark.parametrize(
    "language, message",
    [("es", "caracteres de formato invisibles"), ("eu", "formatu-karaktere ikusezinak")],
)
def test_the_invisible_characters_message_is_translated(client, auth, language, message):
    auth.login()
    data = {"name": "Bil\u200bbao", "description": "", "region": "", "membership_policy": "open"}
    headers = {"Accept-Language": language}
    response = client.submit("/groups/new", data, headers=headers)
    assert response.status_code == 400
    assert message in response.text
