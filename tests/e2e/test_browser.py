"""The foundation end to end, as two people would use it in a browser."""

import pytest

pytestmark = pytest.mark.browser

PASSWORD = "kelp forest walk"


def sign_up(page, base, email, name):
    page.goto(f"{base}/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{base}/")
    assert f"Hello, {name}" in page.locator("h1").inner_text()


def test_approval_group_from_sign_up_to_member_list(live_server, new_page):
    base = live_server
    admin = new_page()
    sign_up(admin, base, "ane@example.com", "Ane Etxeberria")

    admin.goto(f"{base}/groups/new")
    admin.get_by_label("Name").fill("Bilbao Green Energy")
    admin.get_by_label("Description").fill("Renewable energy, bought together.")
    admin.get_by_label("Region").fill("Bilbao")
    admin.get_by_label("Approval: people ask to join and an admin decides").check()
    admin.get_by_role("button", name="Create the group").click()
    admin.wait_for_url(f"{base}/groups/bilbao-green-energy")
    assert "You are an admin of this group." in admin.content()

    applicant = new_page()
    sign_up(applicant, base, "jon@example.com", "Jon Agirre")
    applicant.goto(f"{base}/groups/")
    applicant.get_by_label("Search by name or region").fill("bilbao")
    applicant.get_by_role("button", name="Search").click()
    applicant.get_by_role("link", name="Bilbao Green Energy").click()
    applicant.get_by_role("button", name="Ask to join").click()
    assert "Your request to join is waiting for an admin." in applicant.content()

    admin.goto(f"{base}/groups/bilbao-green-energy/members")
    pending = admin.locator("#pending li")
    assert pending.count() == 1
    assert "Jon Agirre" in pending.first.inner_text()
    pending.first.get_by_role("button", name="Approve").click()
    assert "Jon Agirre is now a member." in admin.locator(".flashes").inner_text()

    applicant.goto(f"{base}/groups/bilbao-green-energy/members")
    names = applicant.locator("#members .name").all_inner_texts()
    assert sorted(names) == ["Ane Etxeberria", "Jon Agirre"]
    assert "admin" in applicant.locator("#members li", has_text="Ane Etxeberria").inner_text()


def test_the_site_speaks_basque_and_spanish(live_server, new_page):
    page = new_page(locale="eu-ES")
    page.goto(live_server)
    assert page.locator("html").get_attribute("lang") == "eu"
    assert page.get_by_role("link", name="Taldeak", exact=True).count() == 1
    page.get_by_role("button", name="Español").click()
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("link", name="Grupos", exact=True).count() == 1
