"""English, Spanish and Basque: which one a request uses, the switcher, and how dates read."""

from babel.dates import format_date, format_time
from babel.numbers import format_decimal
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
from flask_babel import Babel, get_locale, to_user_timezone
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


def _pattern(skeleton: str, locale) -> str:
    return locale.datetime_skeletons[skeleton].pattern


def day(value, _format=None) -> str:
    """A day with its month by name and its year ("6 dic 2026", "2026 abe. 6(a)"): digits
    alone can be read two ways (is 26/12/6 the 6th of December?)."""
    locale = get_locale()
    if hasattr(value, "hour"):
        value = to_user_timezone(value)
    return format_date(value, _pattern("yMMMd", locale), locale=locale)


def moment(value, _format=None) -> str:
    """The day as ``day`` says it, and the time in the locale's own way, joined as the
    locale joins them ("Dec 6, 2026, 8:31 PM", "2026 abe. 6(a) (20:31)")."""
    locale = get_locale()
    when = to_user_timezone(value)
    time = format_time(when, "short", locale=locale)
    return locale.datetime_formats["medium"].format(time, day(when))


def init_app(app) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_locale=lambda: str(get_locale()))
    # Every date and time a person reads, in one unambiguous form per language.
    app.jinja_env.filters.update(dateformat=day, datetimeformat=moment)
    app.jinja_env.filters["decimalformat"] = lambda value: format_decimal(
        value, locale=get_locale()
    )
    app.jinja_env.filters["money"] = lambda minor, currency: format_money(
        minor, currency, str(get_locale())
    )
