"""Members' data rules at the service level: preferences, intents, feedback, the directory."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tecopio.audit.models import AuditEvent
from tecopio.directory import services as directory
from tecopio.memberdata import services
from tecopio.memberdata.models import (
    Feedback,
    Intent,
    IntentStatus,
    InvalidIntentTransition,
    Preference,
    PreferenceCompany,
    Stance,
)
from tecopio.money import InvalidAmount, format_money, to_minor_units
from tecopio.text import InvalidText

pytestmark = pytest.mark.usefixtures("app_ctx")
TODAY = date(2027, 1, 15)


@pytest.mark.parametrize(
    "text, currency, minor",
    [
        ("12", "EUR", 1200),
        ("12.5", "EUR", 1250),
        ("12,50", "EUR", 1250),
        (" 1 200.00 ", "EUR", 120000),
        ("0", "USD", 0),
        ("0.01", "GBP", 1),
        ("10000000000", "EUR", 10**12),
        ("0010", "EUR", 1000),
    ],
)
def test_amounts_become_integer_minor_units(text, currency, minor):
    assert to_minor_units(text, currency) == minor
    assert isinstance(to_minor_units(text, currency), int)


@pytest.mark.parametrize(
    "text, currency",
    [
        ("12.345", "EUR"),
        ("-1", "EUR"),
        ("abc", "EUR"),
        ("", "EUR"),
        ("NaN", "EUR"),
        ("Infinity", "EUR"),
        ("1e3", "XXX"),
        ("1e3", "EUR"),
        ("1e999999999", "EUR"),
        ("1_000", "EUR"),
        ("1,000", "EUR"),
        ("1.234,56", "EUR"),
        ("12.", "EUR"),
        ("١٢", "EUR"),
        ("99999999999999", "EUR"),
        ("10000000000.01", "EUR"),
    ],
)
def test_bad_amounts_are_refused(text, currency):
    with pytest.raises(InvalidAmount):
        to_minor_units(text, currency)


def test_money_is_formatted_in_the_readers_language():
    assert format_money(123456, "EUR", "en") == "€1,234.56"
    assert format_money(123456, "EUR", "es") == "1.234,56\xa0€"


# --- preferences --------------------------------------------------------------


def preference_fields(make, **overrides):
    values = {
        "category_id": make.category("energy-electricity").id,
        "importance": 4,
        "values": ["renewable", "local"],
        "note": "Cooperative supplier",
        "liked": [],
        "avoided": [],
    }
    values.update(overrides)
    return values


def test_create_preference_with_companies(db_session, make):
    user, liked, avoided = make.user(), make.company(), make.company()
    preference = services.create_preference(
        db_session, user, **preference_fields(make, liked=[liked.id], avoided=[avoided.id])
    )
    assert preference.companies_with(Stance.LIKE) == [liked]
    assert preference.companies_with(Stance.AVOID) == [avoided]
    assert services.preferences_of(db_session, user) == [preference]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"category_id": 999_999}, "category_id"),
        ({"category_id": "energy"}, "category_id"),
        ({"importance": 0}, "importance"),
        ({"importance": 6}, "importance"),
        ({"importance": True}, "importance"),
        ({"values": ["renewable", "cheap-and-nasty"]}, "values"),
        ({"note": "n" * 1001}, "note"),
        ({"liked": [999_999]}, "liked"),
    ],
)
def test_create_preference_refusals_write_nothing(db_session, make, overrides, field):
    with pytest.raises(services.InvalidItem) as refused:
        services.create_preference(db_session, make.user(), **preference_fields(make, **overrides))
    assert refused.value.field == field
    db_session.rollback()
    assert db_session.scalar(select(func.count(Preference.id))) == 0


def test_a_company_cannot_be_liked_and_avoided(db_session, make):
    company = make.company()
    with pytest.raises(services.InvalidItem) as refused:
        services.create_preference(
            db_session,
            make.user(),
            **preference_fields(make, liked=[company.id], avoided=[company.id]),
        )
    assert refused.value.field == "avoided"


def test_merged_companies_cannot_be_named(db_session, make):
    kept = make.company()
    merged = make.company(merged_into_id=kept.id)
    with pytest.raises(services.InvalidItem):
        services.create_preference(
            db_session, make.user(), **preference_fields(make, liked=[merged.id])
        )


def test_update_preference_replaces_its_companies(db_session, make):
    user, first, second = make.user(), make.company(), make.company()
    preference = services.create_preference(
        db_session, user, **preference_fields(make, liked=[first.id])
    )
    services.update_preference(db_session, preference, **preference_fields(make, liked=[second.id]))
    db_session.commit()
    links = db_session.scalars(select(PreferenceCompany.company_id)).all()
    assert links == [second.id]


# --- intents --------------------------------------------------------------------


def intent_fields(make, **overrides):
    values = {
        "category_id": make.category("energy-solar").id,
        "description": "Panels for the roof",
        "quantity": 10,
        "unit": "unit",
        "budget_min": 300_000,
        "budget_max": 600_000,
        "currency": "EUR",
        "window_start": TODAY,
        "window_end": TODAY + timedelta(days=90),
    }
    values.update(overrides)
    return values


def test_create_intent(db_session, make):
    intent = services.create_intent(db_session, make.user(), today=TODAY, **intent_fields(make))
    assert (intent.status, intent.budget_min, intent.currency) == (
        IntentStatus.OPEN,
        300_000,
        "EUR",
    )


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -3}, "quantity"),
        ({"quantity": 1_000_001}, "quantity"),
        ({"unit": "barrels"}, "unit"),
        ({"currency": "BTC"}, "currency"),
        ({"budget_min": -1}, "budget_min"),
        ({"budget_min": 1.5}, "budget_min"),
        ({"budget_min": 700_000}, "budget_max"),
        ({"window_end": TODAY - timedelta(days=1)}, "window_end"),
        (
            {"window_start": TODAY - timedelta(days=30), "window_end": TODAY - timedelta(days=1)},
            "window_end",
        ),
        ({"window_end": TODAY + timedelta(days=6 * 366)}, "window_end"),
        ({"window_start": None}, "window_start"),
        ({"description": "d" * 1001}, "description"),
        ({"category_id": None}, "category_id"),
    ],
)
def test_create_intent_refusals_write_nothing(db_session, make, overrides, field):
    with pytest.raises(services.InvalidItem) as refused:
        services.create_intent(
            db_session, make.user(), today=TODAY, **intent_fields(make, **overrides)
        )
    assert refused.value.field == field
    db_session.rollback()
    assert db_session.scalar(select(func.count(Intent.id))) == 0


def test_an_intent_whose_window_has_passed_can_still_be_edited(db_session, make):
    intent = make.intent(
        window_start=TODAY - timedelta(days=60), window_end=TODAY - timedelta(days=30)
    )
    services.update_intent(
        db_session,
        intent,
        today=TODAY,
        **intent_fields(
            make, window_start=intent.window_start, window_end=intent.window_end, quantity=2
        ),
    )
    assert intent.quantity == 2


S = IntentStatus
MEMBER_MOVES = {
    (S.OPEN, S.FULFILLED),
    (S.OPEN, S.WITHDRAWN),
    (S.WITHDRAWN, S.OPEN),
}


@pytest.mark.parametrize("current", [S.OPEN, S.FULFILLED, S.WITHDRAWN])
@pytest.mark.parametrize("target", list(IntentStatus))
def test_what_a_member_may_do_to_an_intents_status(db_session, make, current, target):
    intent = make.intent(status=current)
    if (current, target) in MEMBER_MOVES:
        services.change_intent_status(db_session, intent, target)
        assert intent.status == target
    else:
        with pytest.raises(InvalidIntentTransition):
            services.change_intent_status(db_session, intent, target)
        assert intent.status == current


def test_a_committed_intent_is_locked_for_its_owner(db_session, make):
    intent = make.intent(status=S.COMMITTED)
    with pytest.raises(services.IntentLocked):
        services.change_intent_status(db_session, intent, S.WITHDRAWN)
    with pytest.raises(services.IntentLocked):
        services.update_intent(db_session, intent, today=TODAY, **intent_fields(make))
    with pytest.raises(services.IntentLocked):
        services.delete_item(db_session, intent)
    assert intent.status == S.COMMITTED


# --- feedback -----------------------------------------------------------------------


def test_feedback_is_stored_as_typed_and_shown_sanitised(db_session, make):
    company = make.company(sector_id=make.category("telecom").id)
    feedback = services.create_feedback(
        db_session,
        make.user(),
        company_id=company.id,
        rating=2,
        body='Slow. <script>alert(1)</script> <a href="javascript:x()">x</a> https://e.org',
        visibility="partners",
    )
    assert "<script>" in feedback.body
    assert "<script>" not in feedback.body_html
    assert "javascript:" not in feedback.body_html
    assert 'href="https://e.org" rel="nofollow noopener"' in feedback.body_html


@pytest.mark.parametrize(
    "typed, shown",
    [
        ("**fast** and *kind*", "<p><strong>fast</strong> and <em>kind</em></p>"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("1. first\n2. second", "<ol>\n<li>first</li>\n<li>second</li>\n</ol>"),
        ("> they said so", "<blockquote>\n<p>they said so</p>\n</blockquote>"),
        (
            "[their site](https://e.org)",
            '<p><a href="https://e.org" rel="nofollow noopener">their site</a></p>',
        ),
        ("line one\nline two", "<p>line one<br>\nline two</p>"),
        ("old <b>tags</b> too", "<p>old <b>tags</b> too</p>"),
        # What the hint does not promise stays as typed, never as another element.
        ("# Not a heading", "<p># Not a heading</p>"),
        ("`not code`", "<p>`not code`</p>"),
        ("![x](https://e.org/x.png)", "<p>!"),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ],
)
def test_feedback_markdown_gives_what_the_hint_promises_and_nothing_else(typed, shown):
    from tecopio.sanitize import clean_html

    html = clean_html(typed)
    assert html.strip().startswith(shown) or shown in html
    for tag in ("<h1", "<img", "<pre", "<code", "<hr", "<script", 'href="javascript'):
        assert tag not in html


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"company_id": 999_999}, "company_id"),
        ({"visibility": "everyone"}, "visibility"),
        ({"body": "b" * 5001}, "body"),
        ({"category_id": 999_999}, "category_id"),
    ],
)
def test_feedback_refusals(db_session, make, overrides, field):
    company = make.company(sector_id=make.category("telecom").id)
    values = {"company_id": company.id, "rating": 4, "body": "", "visibility": "group"}
    values.update(overrides)
    with pytest.raises(services.InvalidItem) as refused:
        services.create_feedback(db_session, make.user(), **values)
    assert refused.value.field == field
    db_session.rollback()
    assert db_session.scalar(select(func.count(Feedback.id))) == 0


def test_delete_items_records_the_activity(db_session, make):
    user = make.user()
    for item in (make.preference(user), make.intent(user), make.feedback(user)):
        services.delete_item(db_session, item)
    actions = db_session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.target_user_id == user.id)
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["preference.deleted", "intent.deleted", "feedback.deleted"]


# --- the company directory ----------------------------------------------------------


def test_add_company_and_find_duplicates_by_normalised_name(db_session, make):
    user = make.user()
    company = directory.add_company(
        db_session, user, name="Ekiluz Energia", website="https://ekiluz.example.org"
    )
    for duplicate in ("EKILUZ ENERGÍA", " ekiluz-energia ", "Ekiluz  Energia."):
        with pytest.raises(directory.CompanyExists) as exists:
            directory.add_company(db_session, user, name=duplicate)
        assert exists.value.existing is company


@pytest.mark.parametrize(
    "website",
    [
        "javascript:alert(1)",
        "ftp://example.org",
        "example.org",
        "https://",
        "https://a b.org",
        "https://x.org/" + "a" * 200,
    ],
)
def test_company_websites_must_be_web_addresses(db_session, make, website):
    with pytest.raises(InvalidText):
        directory.add_company(db_session, make.user(), name="Fine", website=website)


@pytest.mark.parametrize("name", ["", "<b>Co</b>", "!!!", "c" * 121])
def test_company_names_are_checked(db_session, make, name):
    with pytest.raises(InvalidText):
        directory.add_company(db_session, make.user(), name=name)


def test_a_merge_that_drops_a_conflicting_stance_tells_the_member(db_session, make):
    admin, user = make.user(is_platform_admin=True), make.user()
    kept, duplicate = make.company(name="Acme"), make.company(name="ACME Inc")
    preference = services.create_preference(
        db_session, user, **preference_fields(make, liked=[kept.id], avoided=[duplicate.id])
    )
    directory.merge_companies(db_session, admin, duplicate, kept)
    db_session.commit()
    assert [c.id for c in preference.companies_with(Stance.LIKE)] == [kept.id]
    assert preference.companies_with(Stance.AVOID) == []
    told = db_session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "preference.merge_conflict", AuditEvent.target_user_id == user.id
        )
    )
    assert told.details["dropped"] == "avoid" and told.details["kept"] == "like"
    merged = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "company.merged"))
    assert merged.details["conflicts"] == 1


def test_merge_moves_everything_to_the_entry_kept(db_session, make):
    admin, user = make.user(is_platform_admin=True), make.user()
    kept, duplicate = make.company(name="Red Eléctrica"), make.company(name="Red Electrica S.A.")
    both = services.create_preference(
        db_session, user, **preference_fields(make, liked=[kept.id, duplicate.id])
    )
    only_duplicate = services.create_preference(
        db_session, user, **preference_fields(make, avoided=[duplicate.id])
    )
    feedback = make.feedback(user, company=duplicate)
    directory.merge_companies(db_session, admin, duplicate, kept)
    db_session.commit()
    assert [c.id for c in both.companies_with(Stance.LIKE)] == [kept.id]
    assert [c.id for c in only_duplicate.companies_with(Stance.AVOID)] == [kept.id]
    assert feedback.company_id == kept.id
    assert directory.resolve(duplicate) is kept
    assert duplicate not in directory.active_companies(db_session)
    with pytest.raises(directory.InvalidMerge):
        directory.merge_companies(db_session, admin, duplicate, kept)
    with pytest.raises(directory.InvalidMerge):
        directory.merge_companies(db_session, admin, kept, kept)
