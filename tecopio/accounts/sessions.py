"""Log-in sessions with Flask-Login, revocable through the user's session version.

Flask's cookie session cannot be revoked on the server, so every session and
remember-me cookie carries ``"<user id>:<session version>"``; raising the
version (log-out, password change or reset) makes all of them stale at once.
"""

from flask import session
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
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version):
        return None
    return user


def start_session(user: User, *, remember: bool) -> None:
    """A fresh session for ``user``: nothing from before log-in is carried over but the language."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    login_user(user, remember=remember)


def init_app(app) -> None:
    login_manager.init_app(app)
