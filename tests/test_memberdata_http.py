"""Members' data through the web: forms, ownership, consent, import, export, erasure."""

import io
import json
import re
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tecopio.accounts.models import User
from tecopio.memberdata.models import Feedback, Intent, IntentStatus, Preference
from tecopio.privacy.models import ConsentEvent
from tests.factories import PASSWORD

MY_PAGES = [
    "/my/data",
    "/my/preferences",
    "/my/preferences/new",
    "/my/intents",
    "/my/intents/new",
    "/my/feedback",
    "/my/feedback/new",
    "/my/consent",
    "/my/import",
    "/my/erase",
]


@pytest.mark.parametrize("page", MY_PAGES)
def test_my_pages_need_a_log_in(client, page):
    response = client.get(page)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("page", MY_PAGES + ["/categories/", "/companies/", "/companies/new"])
def test_my_pages_open_for_a_member(client, auth, page):
    auth.login()
    assert client.get(page).status_code == 200


def count(db_session, model):
    return db_session.scalar(select(func.count(model.id)))


# --- forms ----------------------------------------------------------------------------


def test_add_a_preference_through_the_form(client, auth, make, db_session):
    user = auth.login()
    liked = make.company(name="Ekiluz")
    response = client.submit(
        "/my/preferences/new",
        {
            "category_id": make.category("energy-electricity").id,
            "importance": "5",
            "values": ["renewable", "local"],
            "liked": [str(liked.id)],
            "note": "Only cooperatives",
        },
    )
    assert response.status_code == 302
    preference = db_session.scalar(select(Preference).where(Preference.user_id == user.id))
    assert (preference.importance, preference.values) == (5, ["renewable", "local"])
    page = client.get("/my/preferences").text
    assert "Ekiluz" in page and "Only cooperatives" in page


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"category_id": "999999"}, "Choose one of the options."),
        ({"importance": "7"}, "Choose one of the options."),
        ({"values": ["moonbeams"]}, "Choose one of the options."),
        ({"note": "n" * 1001}, "Use at most 1000 characters."),
    ],
)
def test_preference_form_refusals(client, auth, make, db_session, overrides, message):
    auth.login()
    data = {"category_id": make.category().id, "importance": "3", "note": ""}
    data.update(overrides)
    response = client.submit("/my/preferences/new", data)
    assert response.status_code == 400
    assert message in response.text
    assert count(db_session, Preference) == 0


def intent_form(make, **overrides):
    start = date.today() + timedelta(days=10)
    data = {
        "category_id": make.category("energy-solar").id,
        "description": "Panels",
        "quantity": "4",
        "unit": "unit",
        "currency": "EUR",
        "budget_min": "1.500,00".replace(".", ""),
        "budget_max": "2500.5",
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(days=60)).isoformat(),
    }
    data.update(overrides)
    return data


def test_add_an_intent_with_decimal_amounts_stored_in_cents(client, auth, make, db_session):
    user = auth.login()
    response = client.submit("/my/intents/new", intent_form(make))
    assert response.status_code == 302
    intent = db_session.scalar(select(Intent).where(Intent.user_id == user.id))
    assert (intent.budget_min, intent.budget_max, intent.quantity) == (150000, 250050, 4)
    assert "€1,500.00 – €2,500.50" in client.get("/my/intents").text


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"quantity": "0"}, "Enter a quantity of at least 1."),
        ({"quantity": "many"}, "Not a valid integer value."),
        ({"budget_min": "abc"}, "Enter an amount such as 120 or 120.50"),
        ({"budget_min": "1,000"}, "without thousands separators"),
        ({"budget_min": "1e999999999"}, "without thousands separators"),
        ({"budget_min": "-5"}, "The amount cannot be negative."),
        ({"budget_min": "1.9999"}, "Use at most 2 decimal places."),
        ({"budget_min": "3000"}, "The maximum budget must not be below the minimum."),
        ({"window_end": "2020-01-01", "window_start": "2019-12-01"}, "must not end in the past"),
        (
            {"window_end": (date.today() + timedelta(days=1)).isoformat()},
            "must not end before it starts",
        ),
        ({"window_start": "not a date"}, "Not a valid date value."),
        ({"unit": "barrels"}, "Choose one of the options."),
        ({"currency": "BTC"}, "Choose one of the options."),
    ],
)
def test_intent_form_refusals(client, auth, make, db_session, overrides, message):
    auth.login()
    response = client.submit("/my/intents/new", intent_form(make, **overrides))
    assert response.status_code == 400
    assert message in response.text
    assert count(db_session, Intent) == 0


def test_every_error_of_an_intent_form_is_told_at_once(client, auth, make, db_session):
    auth.login()
    response = client.submit(
        "/my/intents/new",
        intent_form(
            make,
            quantity="0",
            budget_min="abc",
            window_end=(date.today() + timedelta(days=1)).isoformat(),
        ),
    )
    assert response.status_code == 400
    for message in (
        "Enter a quantity of at least 1.",
        "Enter an amount such as 120 or 120.50",
        "must not end before it starts",
    ):
        assert message in response.text
    both = client.submit(
        "/my/intents/new",
        intent_form(
            make, budget_min="3000", window_end=(date.today() + timedelta(days=1)).isoformat()
        ),
    )
    assert "The maximum budget must not be below the minimum." in both.text
    assert "must not end before it starts" in both.text
    assert count(db_session, Intent) == 0


def test_required_fields_are_marked(client, auth):
    auth.login()
    page = client.get("/my/intents/new").text
    assert (
        'for="budget_min">Budget from</label> <span class="required" aria-hidden="true">(required)'
        in page
    )
    assert re.search(r'<input[^>]*id="budget_min"[^>]*\brequired\b', page)  # announced
    assert 'for="description">What do you want to buy?</label></div>' in page  # optional


def test_intent_status_buttons(client, auth, make, db_session):
    user = auth.login()
    intent = make.intent(user)
    url = f"/my/intents/{intent.id}/status"
    assert client.submit("/", {"status": "fulfilled"}, action=url).status_code == 302
    assert intent.status == IntentStatus.FULFILLED
    response = client.submit("/", {"status": "open"}, action=url)
    assert response.status_code == 409
    assert intent.status == IntentStatus.FULFILLED
    assert client.submit("/", {"status": "nonsense"}, action=url).status_code == 409


def test_feedback_about_a_company_without_sector_needs_a_category(client, auth, make, db_session):
    user = auth.login()
    company = make.company(name="No Sector Ltd")
    data = {"company_id": company.id, "rating": "3", "body": "", "visibility": "group"}
    response = client.submit("/my/feedback/new", data)
    assert response.status_code == 400
    assert "choose a category" in response.text
    telecom = make.category("telecom-mobile")
    assert client.submit("/my/feedback/new", {**data, "category_id": telecom.id}).status_code == 302
    feedback = db_session.scalar(select(Feedback).where(Feedback.user_id == user.id))
    assert feedback.category_id == telecom.id


def test_give_feedback_through_the_form(client, auth, make, db_session):
    user = auth.login()
    company = make.company(name="FibraNet", sector_id=make.category("telecom").id)
    response = client.submit(
        "/my/feedback/new",
        {"company_id": company.id, "rating": "2", "body": "Slow *install*", "visibility": "group"},
    )
    assert response.status_code == 302
    feedback = db_session.scalar(select(Feedback).where(Feedback.user_id == user.id))
    assert (feedback.rating, feedback.company_id) == (2, company.id)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"rating": ""}, "Choose a rating."),
        ({"rating": "9"}, "Choose one of the options."),
        ({"company_id": "999999"}, "Choose one of the options."),
        ({"visibility": "world"}, "Choose one of the options."),
        ({"body": "b" * 5001}, "Use at most 5000 characters."),
    ],
)
def test_feedback_form_refusals(client, auth, make, db_session, overrides, message):
    auth.login()
    company = make.company(sector_id=make.category("telecom").id)
    data = {"company_id": company.id, "rating": "4", "body": "", "visibility": "group"}
    data.update(overrides)
    response = client.submit("/my/feedback/new", data)
    assert response.status_code == 400
    assert message in response.text
    assert count(db_session, Feedback) == 0


# --- nobody touches anyone else's items ----------------------------------------------


@pytest.mark.parametrize("kind", ["preference", "intent", "feedback"])
def test_another_members_items_are_not_found_and_not_changed(client, auth, make, db_session, kind):
    owner = make.user()
    item = getattr(make, kind)(owner, **({"note": "private"} if kind == "preference" else {}))
    auth.login()
    plural = {"preference": "preferences", "intent": "intents", "feedback": "feedback"}[kind]
    assert client.get(f"/my/{plural}/{item.id}/edit").status_code == 404
    assert (
        client.submit("/", {"note": "hacked"}, action=f"/my/{plural}/{item.id}/edit").status_code
        == 404
    )
    assert (
        client.submit("/", {"confirmed": "yes"}, action=f"/my/{kind}/{item.id}/delete").status_code
        == 404
    )
    if kind == "intent":
        response = client.submit(
            "/", {"status": "withdrawn"}, action=f"/my/intents/{item.id}/status"
        )
        assert response.status_code == 404
        assert item.status == IntentStatus.OPEN
    assert db_session.get(type(item), item.id) is not None
    for page in ("/my/data", f"/my/{plural}"):
        assert f'id="{kind}-{item.id}"' not in client.get(page).text


def test_owners_edit_and_delete_their_items(client, auth, make, db_session):
    user = auth.login()
    preference = make.preference(user)
    response = client.submit(
        f"/my/preferences/{preference.id}/edit",
        {"category_id": make.category("food-dairy").id, "importance": "2", "note": "changed"},
    )
    assert response.status_code == 302
    assert (preference.importance, preference.note) == (2, "changed")
    preference_id = preference.id
    assert client.confirm("/", action=f"/my/preference/{preference_id}/delete").status_code == 302
    assert count(db_session, Preference) == 0
    assert client.submit("/", action=f"/my/gadget/{preference_id}/delete").status_code == 404


# --- consent, export, import, erasure -------------------------------------------------


def test_consent_page_appends_to_the_log(client, auth, make, db_session):
    user = auth.login()
    group = make.group(name="Bilbao Energy")
    make.membership(group, user)
    energy, food = make.category("energy"), make.category("food")
    shown = {f"shown-{group.id}-{c.id}": "1" for c in (energy, food)}
    client.submit("/my/consent", {**shown, f"consent-{group.id}-{energy.id}": "1"})
    client.submit("/my/consent", {**shown, f"consent-{group.id}-{food.id}": "1"})
    events = db_session.scalars(
        select(ConsentEvent).where(ConsentEvent.user_id == user.id).order_by(ConsentEvent.id)
    ).all()
    assert [(e.category_id, e.granted) for e in events] == [
        (energy.id, True),
        (energy.id, False),
        (food.id, True),
    ]
    page = client.get("/my/consent").text
    assert f'name="consent-{group.id}-{food.id}" value="1" checked' in page
    assert "may not count" in client.get("/my/data").text


def test_consent_for_a_group_one_is_not_in_is_ignored(client, auth, make, db_session):
    auth.login()
    group = make.group()
    energy = make.category("energy")
    client.submit(
        "/my/consent",
        {f"shown-{group.id}-{energy.id}": "1", f"consent-{group.id}-{energy.id}": "1"},
    )
    assert count(db_session, ConsentEvent) == 0


def test_export_downloads_a_zip_of_my_data(client, auth, make):
    user = auth.login()
    make.preference(user, note="exported note")
    assert client.get("/my/export").status_code == 405
    response = client.submit("/", action="/my/export")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    data = json.loads(archive.read("data.json"))
    assert data["preferences"][0]["note"] == "exported note"
    assert "You downloaded all your data." in client.get("/my/data").text


def test_import_through_the_web(client, auth, make, db_session):
    auth.login()
    template = client.get("/my/import/template-preferences.csv")
    assert template.status_code == 200 and template.mimetype == "text/csv"
    response = client.submit(
        "/my/import",
        {"kind": "preferences", "file": (io.BytesIO(template.data), "prefs.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert count(db_session, Preference) == 2


def test_a_bad_import_shows_the_lines_and_stores_nothing(client, auth, db_session):
    auth.login()
    content = b"category,importance,values,liked,avoided,note\nenergy,3,,,,\nnowhere,3,,,,\n"
    response = client.submit(
        "/my/import",
        {"kind": "preferences", "file": (io.BytesIO(content), "prefs.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "Nothing was imported: 1 problem." in response.text
    assert "<td>3</td>" in response.text
    assert count(db_session, Preference) == 0
    assert client.get("/my/import/template-secrets.csv").status_code == 404


def test_import_without_a_file_is_refused(client, auth):
    auth.login()
    response = client.submit(
        "/my/import", {"kind": "preferences"}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "Choose a CSV file." in response.text


def test_erasure_attempts_are_rate_limited(client, auth):
    auth.login()
    statuses = [
        client.submit("/my/erase", {"password": "wrong guess", "confirm": "y"}).status_code
        for _ in range(11)
    ]
    assert statuses == [400] * 10 + [429]


def test_erase_my_account(client, auth, make, db_session):
    user = auth.login()
    make.preference(user)
    response = client.submit("/my/erase", {"password": "wrong password", "confirm": "y"})
    assert response.status_code == 400
    assert db_session.get(User, user.id).erased_at is None
    response = client.submit("/my/erase", {"password": PASSWORD})
    assert response.status_code == 400
    assert "Tick the box to confirm." in response.text
    response = client.submit("/my/erase", {"password": PASSWORD, "confirm": "y"})
    assert response.status_code == 302
    assert db_session.get(User, user.id).erased_at is not None
    assert count(db_session, Preference) == 0
    assert client.get("/my/data").status_code == 302


def test_the_last_admin_is_told_to_hand_over_first(client, auth, make, db_session):
    user = auth.login()
    group = make.group(admin=user, name="Held Group")
    make.member(group)
    assert "last admin of Held Group" in client.get("/my/erase").text
    response = client.submit("/my/erase", {"password": PASSWORD, "confirm": "y"})
    assert response.status_code == 409
    assert db_session.get(User, user.id).erased_at is None


def test_my_data_page_query_count_does_not_grow_with_items(client, auth, make, count_queries):
    user = auth.login()
    group = make.group()
    make.membership(group, user)
    counts = []
    for size in (2, 20):
        for _ in range(size):
            make.preference(user, companies=[])
            make.intent(user)
            make.feedback(user)
        with count_queries() as counter:
            assert client.get("/my/data").status_code == 200
        counts.append(counter["n"])
    assert counts[0] == counts[1]
