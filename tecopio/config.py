"""Configuration: defaults here, then ``instance/config.py``, then the environment.

``create_app(test_config)`` applies a test configuration last.
"""

import os
from datetime import timedelta

DEV_SECRET_KEY = "dev-only-secret-key-never-use-in-production"  # noqa: S105

LANGUAGES = {"en": "English", "es": "Español", "eu": "Euskara"}


class DefaultConfig:
    # "production" (the safe default), "development" (``make run``) or "testing".
    TECOPIO_ENV = "production"
    SECRET_KEY = DEV_SECRET_KEY
    # The address people reach the site at; links in emails are built from it,
    # never from the request's Host header. Required in production.
    PUBLIC_URL = None
    # Host names the app answers to (Flask's TRUSTED_HOSTS); None accepts any.
    TRUSTED_HOSTS = None
    # None means: an SQLite file in the instance folder (filled in by create_app).
    SQLALCHEMY_DATABASE_URI = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

    # Mail: "smtp" sends through MAIL_SERVER, "console" prints the message.
    # Unset: "console" in development, "smtp" otherwise.
    MAIL_BACKEND = None
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_TIMEOUT = 10
    MAIL_DEFAULT_SENDER = "Tecopio <no-reply@tecopio.localhost>"

    # Rate limits are kept in Redis in production (e.g. redis://127.0.0.1:6379/0),
    # so that every app process counts the same attempts.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_KEY_PREFIX = "tecopio"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"
    RESET_RATE_LIMIT = "5 per minute;20 per hour"
    SIGNUP_RATE_LIMIT = "10 per hour"

    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    MAX_FORM_MEMORY_SIZE = 512 * 1024

    # Cookies. The Secure flag is switched on in production by create_app.
    SESSION_COOKIE_NAME = "tecopio_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    REMEMBER_COOKIE_NAME = "tecopio_remember"
    REMEMBER_COOKIE_DURATION = timedelta(days=14)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    WTF_CSRF_TIME_LIMIT = 3600 * 8

    PASSWORD_RESET_MAX_AGE = 3600  # seconds
    INVITATION_VALID_DAYS = 14
    SIGNUP_VALID_HOURS = 24  # the link that finishes a sign-up
    # argon2-cffi profile: RFC_9106_LOW_MEMORY is argon2-cffi's default
    # (argon2id, t=3, m=64 MiB, p=4). Tests use CHEAPEST to stay fast.
    PASSWORD_HASH_PROFILE = "RFC_9106_LOW_MEMORY"

    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    GROUPS_PER_PAGE = 20
    MEMBERS_PER_PAGE = 50
    # The job queue (tecopio/jobs.py): "sqlite" (a file in the instance folder; `make
    # run` starts a worker beside the server), "redis" (production: JOBS_REDIS_URL,
    # any number of `flask jobs worker`), or "memory" (tests).
    JOBS_BACKEND = "sqlite"
    JOBS_SQLITE_PATH = ""
    JOBS_REDIS_URL = "redis://127.0.0.1:6379/0"
    JOBS_QUEUE_NAME = "tecopio"
    # Set to the number of proxies in front of the app (e.g. 1 behind a load balancer)
    # so that rate limits see the client's address.
    TRUSTED_PROXY_COUNT = 0
    # Strict-Transport-Security in production: browsers use only HTTPS for the
    # site (and its subdomains) for this many seconds. 0 leaves the header out,
    # e.g. when the proxy in front of the app sets it.
    HSTS_SECONDS = 63072000

    # Money (tecopio/ledger). "offline": companies pay invoices by bank transfer to
    # the account below, and a group admin records each payment received.
    PAYMENT_PROVIDER = "offline"
    OFFLINE_PAYEE = "Tecopio cooperative platform"
    OFFLINE_IBAN = "ES91 2100 0418 4502 0005 1332"
    # The platform's fee, in hundredths of a percent of each payment (250 is 2.5 %).
    PLATFORM_FEE_BASIS_POINTS = 0
    # PAYMENT_PROVIDER = "stripe": companies pay invoices through Stripe Checkout. The keys
    # come from the environment; STRIPE_API_BASE points the SDK elsewhere (tests).
    STRIPE_SECRET_KEY = ""
    STRIPE_WEBHOOK_SECRET = ""
    STRIPE_API_BASE = ""
    STRIPE_TIMEOUT_SECONDS = 20
    STRIPE_NETWORK_RETRIES = 2
    # Events signed longer ago than this, or this far ahead of our clock, are refused.
    STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300


# Environment variables read on top of the defaults and instance/config.py.
_ENV_STRINGS = (
    "SECRET_KEY",
    "PUBLIC_URL",
    "TECOPIO_ENV",
    "MAIL_BACKEND",
    "MAIL_SERVER",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_KEY_PREFIX",
    "JOBS_BACKEND",
    "JOBS_SQLITE_PATH",
    "JOBS_REDIS_URL",
    "JOBS_QUEUE_NAME",
    "PAYMENT_PROVIDER",
    "OFFLINE_PAYEE",
    "OFFLINE_IBAN",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
)
_ENV_INTS = (
    "MAIL_PORT",
    "MAX_CONTENT_LENGTH",
    "PASSWORD_RESET_MAX_AGE",
    "SIGNUP_VALID_HOURS",
    "TRUSTED_PROXY_COUNT",
    "HSTS_SECONDS",
    "PLATFORM_FEE_BASIS_POINTS",
    "STRIPE_TIMEOUT_SECONDS",
    "STRIPE_NETWORK_RETRIES",
    "STRIPE_WEBHOOK_TOLERANCE_SECONDS",
)
_ENV_BOOLS = ("MAIL_USE_TLS", "MAIL_USE_SSL")


def from_environment(environ=os.environ) -> dict:
    """The settings that the environment sets, already typed."""
    settings: dict = {}
    for name in _ENV_STRINGS:
        if environ.get(name):
            settings[name] = environ[name]
    for name in _ENV_INTS:
        if environ.get(name):
            settings[name] = int(environ[name])
    for name in _ENV_BOOLS:
        if environ.get(name):
            settings[name] = environ[name].strip().lower() in {"1", "true", "yes", "on"}
    if environ.get("TRUSTED_HOSTS"):
        settings["TRUSTED_HOSTS"] = [
            h.strip() for h in environ["TRUSTED_HOSTS"].split(",") if h.strip()
        ]
    if environ.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = environ["DATABASE_URL"]
    return settings


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual short way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
