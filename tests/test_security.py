"""Headers, cookies, limits and configuration that keep the site safe."""

import pytest

from tecopio import create_app
from tecopio.config import DEV_SECRET_KEY
from tecopio.security import safe_next
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


def test_an_unknown_way_of_refreshing_analytics_is_refused(database_url):
    with pytest.raises(ValueError, match="ANALYTICS_REFRESH"):
        create_app(
            {
                "TECOPIO_ENV": "testing",
                "SQLALCHEMY_DATABASE_URI": database_url,
                "ANALYTICS_REFRESH": "celery",
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
