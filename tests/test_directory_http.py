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
    assert operator.confirm("/admin/companies/merge", data).status_code == 302
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


# --- the operator reaches the merge -----------------------------------------------------


def test_the_operator_reaches_the_merge_from_the_menu_and_from_a_company(
    make_client, make, db_session
):
    kept = make.company(name="Som Energia")
    duplicate = make.company(name="Som Energia SCCL")
    make.company(name="Goiener")
    operator, member = make_client(), make_client()
    operator.submit(
        "/login", {"email": make.user(is_platform_admin=True).email, "password": PASSWORD}
    )
    member.submit("/login", {"email": make.user().email, "password": PASSWORD})

    home = operator.get("/").text
    assert 'href="/admin/"' in home and 'href="/companies/"' in home
    assert 'href="/admin/"' not in member.get("/").text
    assert 'href="/companies/"' in member.get("/").text

    tools = operator.get("/admin/").text
    assert 'href="/admin/companies/merge"' in tools
    # Names that begin one another are offered as a pair, the longer as the duplicate.
    assert f'href="/admin/companies/merge?source={duplicate.id}&amp;target={kept.id}"' in tools
    assert "Goiener" not in tools

    company_page = operator.get(f"/companies/{kept.id}").text
    assert f'href="/admin/companies/merge?source={kept.id}"' in company_page
    assert f'href="/admin/companies/merge?target={kept.id}"' in company_page
    assert "merge?" not in member.get(f"/companies/{kept.id}").text


def test_the_merge_form_starts_empty_or_on_the_company_one_came_from(client, make, db_session):
    kept = make.company(name="Som Energia")
    other = make.company(name="Goiener")
    client.submit(
        "/login", {"email": make.user(is_platform_admin=True).email, "password": PASSWORD}
    )

    def selected(page, name):
        select_html = page.split(f'name="{name}"', 1)[1].split("</select>", 1)[0]
        return [line for line in select_html.splitlines() if "selected" in line]

    blank = client.get("/admin/companies/merge").text
    assert len(selected(blank, "source_id")) <= 1
    assert all('value=""' in line for line in selected(blank, "source_id"))
    assert all('value=""' in line for line in selected(blank, "target_id"))
    preset = client.get(f"/admin/companies/merge?target={kept.id}&source={other.id}").text
    assert f'value="{kept.id}"' in selected(preset, "target_id")[0]
    assert f'value="{other.id}"' in selected(preset, "source_id")[0]
    # An empty choice is refused with a message for each field, all at once.
    refused = client.submit("/admin/companies/merge", {"source_id": "", "target_id": ""})
    assert refused.status_code == 400
    assert "Choose the duplicate." in refused.text and "Choose the entry to keep." in refused.text
    for junk in ("abc", "-1", "99999999999"):
        assert client.get(f"/admin/companies/merge?source={junk}").status_code == 200


def test_the_current_page_is_marked_in_the_menu_and_tabs(client, auth, make):
    user = auth.login()
    group = make.group(admin=user)
    marked = 'aria-current="page"'
    assert f'href="/my/preferences"{" " + marked}' in client.get("/my/preferences").text
    page = client.get(f"/groups/{group.slug}/members").text
    assert f'href="/groups/{group.slug}/members" {marked}' in page
    assert f'href="/groups/" {marked}' in page
    assert page.count(marked) == 2


@pytest.mark.parametrize(
    "first, second, alike",
    [
        ("Red Eléctrica del Norte", "Red Electrica Norte S.A.", True),
        ("Som Energia", "Som Energia SCCL", True),
        ("Goiener", "Goiener S. Coop.", True),
        ("Ekiluz Energia Kooperatiba", "Ekiluz", True),
        ("Baserri Fresh", "FibraNet Telecom", False),
        ("Red", "Red Eléctrica del Norte", False),  # a short name begins too many
    ],
)
def test_possible_duplicates_ignore_case_accents_articles_and_legal_forms(
    db_session, make, first, second, alike
):
    from tecopio.directory.services import active_companies, possible_duplicates

    make.company(name=first)
    make.company(name=second)
    pairs = [{a.name, b.name} for a, b in possible_duplicates(active_companies(db_session))]
    assert ({first, second} in pairs) is alike
