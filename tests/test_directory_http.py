"""The company directory through the web: browse, add, refuse duplicates and formulas, merge."""

import pytest
from sqlalchemy import func, select

from tecopio.directory.models import Company
from tests.factories import PASSWORD


def count(db_session, model):
    return db_session.scalar(select(func.count()).select_from(model))


# --- the directory --------------------------------------------------------------------


def test_add_a_company_and_refuse_its_duplicate(client, auth, make, db_session):
    auth.login()
    data = {"name": "Txirrinda Bikes", "website": "https://txirrinda.example.org", "sector_id": ""}
    response = client.submit("/companies/new", data)
    assert response.status_code == 302
    company = db_session.scalar(select(Company))
    assert client.get(f"/companies/{company.id}").status_code == 200
    response = client.submit("/companies/new", {**data, "name": "TXIRRINDA bikes"})
    assert response.status_code == 400
    assert "already in the directory" in response.text
    response = client.submit(
        "/companies/new", {**data, "name": "Other", "website": "javascript:alert(1)"}
    )
    assert response.status_code == 400
    assert count(db_session, Company) == 1


@pytest.mark.parametrize(
    "name", ['=HYPERLINK("https://evil.example")', "+34 Telecom", "-minus", "@SUM(1)", "  =pad"]
)
def test_the_directory_refuses_names_that_start_a_formula(client, auth, db_session, name):
    auth.login()
    response = client.submit("/companies/new", {"name": name, "website": "", "sector_id": ""})
    assert response.status_code == 400
    assert "A name cannot start with =, +, - or @." in response.text
    assert count(db_session, Company) == 0


@pytest.mark.parametrize(
    "language, message",
    [("es", "Un nombre no puede empezar por"), ("eu", "Izen bat ezin da =, +, - edo @")],
)
def test_the_formula_name_message_is_translated(client, auth, db_session, language, message):
    auth.login()
    response = client.submit(
        "/companies/new",
        {"name": "=1+1", "website": "", "sector_id": ""},
        headers={"Accept-Language": language},
    )
    assert response.status_code == 400 and message in response.text
    assert count(db_session, Company) == 0


def test_the_directory_service_refuses_formula_names_too(app, db_session, make):
    from tecopio.directory.services import add_company
    from tecopio.text import InvalidText

    with app.app_context(), pytest.raises(InvalidText, match="cannot start with"):
        add_company(db_session, make.user(), name="=cmd|' /C calc'!A0")
    assert count(db_session, Company) == 0


def test_only_platform_admins_merge_companies(make_client, make, db_session):
    kept, duplicate = make.company(name="Kept"), make.company(name="Duplicate")
    member, operator = make_client(), make_client()
    member.submit("/login", {"email": make.user().email, "password": PASSWORD})
    operator.submit(
        "/login", {"email": make.user(is_platform_admin=True).email, "password": PASSWORD}
    )
    data = {"source_id": duplicate.id, "target_id": kept.id}
    assert member.get("/admin/companies/merge").status_code == 403
    assert member.submit("/", data, action="/admin/companies/merge").status_code == 403
    assert duplicate.merged_into_id is None
    assert operator.submit("/admin/companies/merge", data).status_code == 302
    assert duplicate.merged_into_id == kept.id
    response = operator.get(f"/companies/{duplicate.id}")
    assert (response.status_code, response.headers["Location"]) == (301, f"/companies/{kept.id}")
    assert (
        operator.submit(
            "/admin/companies/merge", {"source_id": kept.id, "target_id": kept.id}
        ).status_code
        == 400
    )


def test_operators_grant_and_revoke_platform_admin_from_the_command_line(app, make):
    user = make.user(email="operator@example.com")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "grant-admin", "OPERATOR@example.com"])
    assert result.exit_code == 0, result.output
    assert user.is_platform_admin
    assert runner.invoke(args=["users", "revoke-admin", "operator@example.com"]).exit_code == 0
    assert not user.is_platform_admin
    result = runner.invoke(args=["users", "grant-admin", "nobody@example.com"])
    assert result.exit_code != 0 and "No account" in result.output
