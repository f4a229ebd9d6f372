"""English, Spanish and Basque: every string translated, and the language choice remembered."""

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask_babel import force_locale
from sqlalchemy import func, select

from tecopio.accounts.models import User

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
METHODS = [
    ("tecopio/**.py", "python"),
    ("templates/**.html", "jinja2"),
    ("templates/**.txt", "jinja2"),
]


# As babel.cfg says: without the app's Jinja extensions a template that uses one yields
# no message at all, silently.
OPTIONS = {
    pattern: {"extensions": "jinja2.ext.do"} for pattern, method in METHODS if method == "jinja2"
}


def source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


@pytest.fixture(scope="module")
def sources():
    return source_messages()


@pytest.mark.parametrize("locale", ["es", "eu"])
def test_every_string_has_a_translation(sources, locale):
    with open(ROOT / f"tecopio/translations/{locale}/LC_MESSAGES/messages.po", "rb") as po:
        catalog = read_po(po)
    translated = {}
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        translated[msgid] = all(strings) and not message.fuzzy
    missing = sorted(m for m in sources if not translated.get(m))
    assert missing == [], f"{len(missing)} strings lack a {locale} translation: {missing[:5]}"
    assert len(sources) > 150


def test_every_literal_string_of_every_template_is_extracted(sources):
    """A template the extractor cannot read loses all its strings without a word."""
    literal = re.compile(r"""\b_\(\s*"((?:[^"\\]|\\.)+)"\s*[,)]""")
    missing = set()
    for template in (ROOT / "templates").rglob("*.*"):
        for text in literal.findall(template.read_text()):
            text = text.replace('\\"', '"')
            if text not in sources:
                missing.add(f"{template.relative_to(ROOT)}: {text}")
    assert missing == set()


@pytest.mark.parametrize(
    "accept, expected_lang, text",
    [
        ("es-ES,es;q=0.9", "es", "Grupos"),
        ("eu", "eu", "Taldeak"),
        ("fr-FR,fr;q=0.9", "en", "Groups"),
    ],
)
def test_the_browser_language_is_used_by_default(client, accept, expected_lang, text):
    page = client.get("/", headers={"Accept-Language": accept}).text
    assert f'<html lang="{expected_lang}">' in page
    assert text in page


def test_choosing_a_language_is_remembered_in_the_session(client):
    response = client.submit("/", {"locale": "eu", "next": "/groups/"}, action="/language")
    assert response.status_code == 302
    assert response.headers["Location"] == "/groups/"
    assert '<html lang="eu">' in client.get("/groups/").text


def test_choosing_a_language_is_saved_on_the_profile(make_client, auth, client, db_session):
    user = auth.login()
    client.submit("/", {"locale": "es"}, action="/language")
    db_session.refresh(user)
    assert user.locale == "es"
    other_device = make_client()
    other_device.submit("/login", {"email": user.email, "password": "correct horse battery staple"})
    assert '<html lang="es">' in other_device.get("/", headers={"Accept-Language": "en"}).text


@pytest.mark.parametrize("locale", ["", "fr", "../../etc"])
def test_unknown_languages_are_refused(client, db_session, locale):
    response = client.submit("/", {"locale": locale}, action="/language")
    assert response.status_code == 400


def test_errors_and_form_messages_are_translated(client, db_session):
    response = client.submit(
        "/signup",
        {"email": "ane@example.com", "display_name": "", "password": "short"},
        headers={"Accept-Language": "es"},
    )
    assert response.status_code == 400
    assert "obligatorio" in response.text
    assert db_session.scalar(select(func.count(User.id))) == 0
    page = client.get("/no-such-page", headers={"Accept-Language": "eu"})
    assert page.status_code == 404
    assert "Page not found" not in page.text


@pytest.mark.parametrize(
    ("locale", "opened", "window"),
    [
        ("en", "Dec 6, 2026, 8:31\u202fPM", "Jan 1, 2027"),  # CLDR: a narrow space
        ("es", "6 dic 2026, 20:31", "1 ene 2027"),
        ("eu", "2026 abe. 6(a) (20:31)", "2027 urt. 1(a)"),
    ],
)
def test_dates_name_their_month_in_every_language(app, locale, opened, window):
    """Digits alone read two ways ("26/12/6" was a Basque 6 December): the month goes by name."""
    with app.test_request_context(), force_locale(locale):
        render = app.jinja_env.from_string(
            "{{ when|datetimeformat('short') }}|{{ day|dateformat }}"
        )
        shown = render.render(when=datetime(2026, 12, 6, 20, 31, tzinfo=UTC), day=date(2027, 1, 1))
    assert shown == f"{opened}|{window}"


def test_pages_show_no_date_in_digits_alone(client, auth, make):
    user = auth.login()
    user.locale = "eu"
    make.commit()
    group = make.group(admin=user)
    make.intent(user)
    for page in ("/my/intents", f"/groups/{group.slug}/charter", f"/groups/{group.slug}/audit"):
        html = client.get(page).text
        assert not re.search(r"\b\d{1,4}/\d{1,2}/\d{1,4}\b", html), page
