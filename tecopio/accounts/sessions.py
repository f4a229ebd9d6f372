"""Log-in sessions with Flask-Login, revocable through the user's session version.

Flask's cookie session cannot be revoked on the server, so every session and
remember-me cookie carries ``"<user id>:<session version>:<log-in time>"``.
Raising the version (log-out, password change or reset) makes all of them
stale at once, and no log-in outlives REMEMBER_COOKIE_DURATION, whatever a
browser does with the cookie's expiry date.
"""

import time

from flask import current_app, session
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, login_user

from tecopio.accounts.models import User
from tecopio.db import db

login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = _l("Please log in to see this page.")
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    parts = session_id.split(":")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    user_id, version, issued_at = (int(part) for part in parts)
    max_age = current_app.config["REMEMBER_COOKIE_DURATION"].total_seconds()
    if time.time() - issued_at > max_age:
        return None
    user = db.session.get(User, user_id)
    if user is None or user.session_version != version:
        return None
    user.login_issued_at = issued_at
    return user


def start_session(user: User, *, remember: bool) -> None:
    """A fresh session for ``user``: nothing from before log-in is carried over but the language."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    user.login_issued_at = int(time.time())
    login_user(user, remember=remember)


def init_app(app) -> None:
    login_manager.init_app(app)
