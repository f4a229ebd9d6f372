"""Importing preferences, intents and feedback from CSV: all rows or none, line by line."""

from datetime import date

import pytest
from sqlalchemy import func, select

from tecopio.memberdata.imports import MAX_ROWS, ImportFailed, import_csv, template_csv
from tecopio.memberdata.models import Intent, Preference

pytestmark = pytest.mark.usefixtures("app_ctx")


# --- import ---------------------------------------------------------------------------


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


PREFERENCE_HEADER = "category,importance,values,liked,avoided,note"
INTENT_HEADER = (
    "category,description,quantity,unit,budget_min,budget_max,currency,window_start,window_end"
)


def test_the_templates_import_cleanly(db_session, make):
    user = make.user()
    assert import_csv(db_session, user, "preferences", template_csv("preferences").encode()) == 2
    count = import_csv(
        db_session, user, "intents", template_csv("intents").encode(), today=date(2026, 12, 1)
    )
    assert count == 2
    assert db_session.scalar(select(func.count(Intent.id)).where(Intent.user_id == user.id)) == 2


def test_import_names_companies_from_the_directory(db_session, make):
    company = make.company(name="Ekiluz Energia")
    user = make.user()
    import_csv(
        db_session,
        user,
        "preferences",
        csv_bytes(PREFERENCE_HEADER, "energy-electricity,5,renewable,EKILUZ energia,,"),
    )
    preference = db_session.scalar(select(Preference).where(Preference.user_id == user.id))
    assert [c.id for c in preference.companies_with("like")] == [company.id]


def test_a_bad_row_stores_nothing_and_every_problem_has_its_line(db_session, make):
    user = make.user()
    content = csv_bytes(
        PREFERENCE_HEADER,
        "energy-electricity,5,renewable,,,fine",
        "no-such-category,3,,,,",
        "food-produce,9,organic,,,",
        "food-produce,3,organic,Nobody Inc,,",
        'food-produce,3,"organic;moonbeams",,,',
        "energy-gas,2,,,,,extra cell",
    )
    with pytest.raises(ImportFailed) as failed:
        import_csv(db_session, user, "preferences", content)
    db_session.rollback()
    lines = [(e.line, e.message.split(":")[0]) for e in failed.value.errors]
    assert lines == [
        (3, "category"),
        (4, "importance"),
        (5, "liked"),
        (6, "values"),
        (7, "This row has more cells than the header."),
    ]
    assert db_session.scalar(select(func.count(Preference.id))) == 0


@pytest.mark.parametrize(
    "row, field",
    [
        ("energy-solar,Panels,0,unit,100,200,EUR,2027-01-01,2027-02-01", "quantity"),
        ("energy-solar,Panels,x,unit,100,200,EUR,2027-01-01,2027-02-01", "quantity"),
        ("energy-solar,Panels,1,unit,300,200,EUR,2027-01-01,2027-02-01", "budget_max"),
        ("energy-solar,Panels,1,unit,1.234,200,EUR,2027-01-01,2027-02-01", "budget"),
        ("energy-solar,Panels,1,unit,100,200,XYZ,2027-01-01,2027-02-01", "budget"),
        ("energy-solar,Panels,1,unit,100,200,EUR,2027-02-01,2027-01-01", "window_end"),
        ("energy-solar,Panels,1,unit,100,200,EUR,01/02/2027,2027-03-01", "window_start"),
        ("energy-solar,Panels,1,barrels,100,200,EUR,2027-01-01,2027-02-01", "unit"),
    ],
)
def test_bad_intent_rows(db_session, make, row, field):
    with pytest.raises(ImportFailed) as failed:
        import_csv(
            db_session,
            make.user(),
            "intents",
            csv_bytes(INTENT_HEADER, row),
            today=date(2026, 12, 1),
        )
    assert [(e.line, e.message.split(":")[0]) for e in failed.value.errors] == [(2, field)]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"category,importance\nenergy,3\n", "Missing columns"),
        ("category,importance,values,liked,avoided,note\n".encode("utf-16"), "UTF-8"),
        (csv_bytes(PREFERENCE_HEADER), "no rows"),
        (b"", "Missing columns"),
    ],
)
def test_unusable_files_are_refused(db_session, make, content, message):
    with pytest.raises(ImportFailed) as failed:
        import_csv(db_session, make.user(), "preferences", content)
    assert message in failed.value.errors[0].message


def test_a_cell_too_large_for_csv_is_a_reported_problem(db_session, make):
    content = csv_bytes(PREFERENCE_HEADER, "energy-electricity,3,,,," + "x" * 200_000)
    with pytest.raises(ImportFailed) as failed:
        import_csv(db_session, make.user(), "preferences", content)
    assert [e.line for e in failed.value.errors] == [2]
    assert "cannot be read as CSV" in failed.value.errors[0].message


def test_files_have_a_row_limit(db_session, make):
    rows = ["energy-electricity,3,,,,"] * (MAX_ROWS + 1)
    with pytest.raises(ImportFailed) as failed:
        import_csv(db_session, make.user(), "preferences", csv_bytes(PREFERENCE_HEADER, *rows))
    assert "at most" in failed.value.errors[-1].message


def import_errors(db_session, user, content):
    with pytest.raises(ImportFailed) as failed:
        import_csv(db_session, user, "preferences", content)
    db_session.rollback()
    assert db_session.scalar(select(func.count(Preference.id))) == 0
    return [(e.line, e.message) for e in failed.value.errors]


def test_an_unclosed_quote_is_its_lines_error_and_never_swallows_the_next_line(db_session, make):
    content = csv_bytes(
        PREFERENCE_HEADER,
        "energy-electricity,5,renewable,,,fine",
        'food-produce,4,organic,,,"unterminated',
        "energy-gas,3,,,,read as a row of its own",
    )
    assert import_errors(db_session, make.user(), content) == [
        (
            3,
            "A quoted cell is not closed on this line. "
            "Close its quotes: a cell cannot run over several lines.",
        )
    ]


def test_a_quoted_cell_cannot_hold_a_line_break(db_session, make):
    content = csv_bytes(
        PREFERENCE_HEADER,
        'food-produce,4,organic,,,"two',
        'lines"',
        "energy-gas,3,,,,fine",
    )
    errors = import_errors(db_session, make.user(), content)
    assert [line for line, _message in errors] == [2, 3]
    assert errors[0][1].startswith("A quoted cell is not closed on this line.")


def test_rows_need_as_many_cells_as_the_header_and_lines_are_counted_in_the_file(db_session, make):
    content = csv_bytes(
        PREFERENCE_HEADER,
        "",
        "energy-gas,2,,",
        "energy-gas,2,,,,,extra",
        'energy-gas,2,,,,"closed"x',
    ).replace(b"\n", b"\r\n")
    assert import_errors(db_session, make.user(), content) == [
        (3, "This row has fewer cells than the header."),
        (4, "This row has more cells than the header."),
        (5, "This line cannot be read as CSV."),
    ]


def test_quoted_cells_with_commas_and_quotes_still_import(db_session, make):
    user = make.user()
    content = csv_bytes(
        PREFERENCE_HEADER,
        'food-produce,3,"organic;local",,,"Near, cheap and ""fresh"""',
        "",
    )
    assert import_csv(db_session, user, "preferences", content) == 1
    preference = db_session.scalar(select(Preference).where(Preference.user_id == user.id))
    assert (preference.values, preference.note) == (["organic", "local"], 'Near, cheap and "fresh"')
