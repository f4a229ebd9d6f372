"""English, Spanish and Basque: which one a request uses, and the switcher."""

from flask import (
    Blueprint,
    abort,
    current_app,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import Babel, get_locale
from flask_login import current_user

from tecopio.config import LANGUAGES
from tecopio.db import db
from tecopio.guards import public
from tecopio.money import format_money
from tecopio.security import safe_next

babel = Babel()
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The user's saved choice, else this browser session's, else the browser's."""
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    if session.get("locale") in LANGUAGES:
        return session["locale"]
    return request.accept_languages.best_match(LANGUAGES.keys()) or "en"


@bp.post("/language")
@public
def set_language():
    locale = request.form.get("locale", "")
    if locale not in LANGUAGES:
        abort(400)
    session["locale"] = locale
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    return redirect(safe_next(request.form.get("next"), url_for("home.index")))


def init_app(app) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_locale=lambda: str(get_locale()))
    app.jinja_env.filters["money"] = lambda minor, currency: format_money(
        minor, currency, str(get_locale())
    )
