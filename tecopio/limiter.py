"""Rate limits (Flask-Limiter); counts live in RATELIMIT_STORAGE_URI (Redis in production)."""

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)


def configured(name: str):
    """A limit read from the app's configuration when the request arrives."""
    return lambda: current_app.config[name]


def init_app(app) -> None:
    limiter.init_app(app)
