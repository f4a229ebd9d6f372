"""The foundation end to end, as two people would use it in a browser."""

import json
import re
import zipfile
from datetime import date, timedelta

import pytest
from sqlalchemy import update

from tecopio.db import db, utcnow
from tecopio.governance.models import Proposal

pytestmark = pytest.mark.browser

PASSWORD = "kelp forest walk"


def sign_up(page, base, email, name, mail):
    """Sign up as a person does: the form, then the link in the email, then one button."""
    page.goto(f"{base}/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    assert "Check your email" in page.locator("h1").inner_text()
    message = next(m for m in reversed(mail) if m["To"] == email)
    link = re.search(r"http://localhost(/signup/confirm/\S+)", message.get_content()).group(1)
    page.goto(f"{base}{link}")
    page.get_by_label("The password you chose when signing up").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url(f"{base}/")
    assert f"Hello, {name}" in page.locator("h1").inner_text()


def test_approval_group_from_sign_up_to_member_list(live_server, new_page, mail):
    base = live_server
    admin = new_page()
    sign_up(admin, base, "ane@example.com", "Ane Etxeberria", mail)

    admin.goto(f"{base}/groups/new")
    admin.get_by_label("Name").fill("Bilbao Green Energy")
    admin.get_by_label("Description").fill("Renewable energy, bought together.")
    admin.get_by_label("Region").fill("Bilbao")
    admin.get_by_label("Approval: people ask to join and an admin decides").check()
    admin.get_by_role("button", name="Create the group").click()
    admin.wait_for_url(f"{base}/groups/bilbao-green-energy")
    assert "You are an admin of this group." in admin.content()

    applicant = new_page()
    sign_up(applicant, base, "jon@example.com", "Jon Agirre", mail)
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


def test_record_a_preference_and_an_intent_see_them_on_my_data_and_export(
    live_server, new_page, mail
):
    base = live_server
    page = new_page()
    sign_up(page, base, "maite@example.com", "Maite Ruiz", mail)

    page.goto(f"{base}/my/preferences/new")
    page.get_by_label("Category").select_option(label="Electricity")
    page.get_by_label("5").check()
    page.get_by_label("Renewable").check()
    page.get_by_label("Local", exact=True).check()
    page.get_by_label("Note").fill("A cooperative supplier, please.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/my/preferences")

    start = date.today() + timedelta(days=20)
    page.goto(f"{base}/my/intents/new")
    page.get_by_label("Category").select_option(label="Solar self-consumption")
    page.get_by_label("What do you want to buy?").fill("Panels for our roof")
    page.get_by_label("Quantity").fill("6")
    page.get_by_label("Budget from").fill("3000")
    page.get_by_label("Budget up to").fill("5500.50")
    page.get_by_label("From", exact=True).fill(start.isoformat())
    page.get_by_label("Until", exact=True).fill((start + timedelta(days=90)).isoformat())
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/my/intents")

    page.goto(f"{base}/my/data")
    preferences = page.locator("section#preferences").inner_text()
    assert "Electricity" in preferences and "A cooperative supplier, please." in preferences
    intents = page.locator("section#intents").inner_text()
    assert "Panels for our roof" in intents and "€3,000.00 – €5,500.50" in intents
    assert "You added a purchase intent." in page.locator("section#activity").inner_text()

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download all my data").click()
    archive = zipfile.ZipFile(download_info.value.path())
    data = json.loads(archive.read("data.json"))
    assert [p["note"] for p in data["preferences"]] == ["A cooperative supplier, please."]
    assert [(i["description"], i["budget_max_minor_units"]) for i in data["intents"]] == [
        ("Panels for our roof", 550050)
    ]


def test_import_with_progress_and_line_numbered_errors(live_server, new_page, tmp_path, mail):
    base = live_server
    page = new_page()
    sign_up(page, base, "iker@example.com", "Iker Larrañaga", mail)
    header = "category,importance,values,liked,avoided,note\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "energy-electricity,3,renewable,,,\nnowhere,3,,,,\n", encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text(header + "energy-electricity,4,renewable,,,\n" * 2000, encoding="utf-8")

    page.goto(f"{base}/my/import")
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector("#import-errors")
    assert "Nothing was imported: 1 problem." in page.content()
    assert page.locator("#import-errors tbody tr td").first.inner_text() == "3"

    page.get_by_label("CSV file").set_input_files(str(good))
    page.evaluate(
        """() => {
            const bar = document.getElementById('import-progress');
            new MutationObserver(() => { if (!bar.hidden) window.progressShown = true; })
                .observe(bar, {attributes: true});
        }"""
    )
    page.get_by_role("button", name="Import").click()
    page.wait_for_url(f"{base}/my/preferences")
    assert page.evaluate("window.progressShown") is True
    assert "2000 items imported." in page.locator(".flashes").inner_text()
    assert page.locator("#preferences li.item").count() == 2000


def test_members_vote_a_higher_k_into_the_charter(app, live_server, new_page, mail):
    """An admin proposes raising k, two members vote yes, the proposal passes at its close."""
    base = live_server
    admin = new_page()
    sign_up(admin, base, "ane@example.com", "Ane Etxeberria", mail)
    admin.goto(f"{base}/groups/new")
    admin.get_by_label("Name").fill("Charter Test")
    admin.get_by_label("Open: anyone may join at once").check()
    admin.get_by_role("button", name="Create the group").click()
    admin.wait_for_url(f"{base}/groups/charter-test")

    voters = []
    for email, name in (("jon@example.com", "Jon Agirre"), ("maite@example.com", "Maite Ruiz")):
        member = new_page()
        sign_up(member, base, email, name, mail)
        member.goto(f"{base}/groups/charter-test")
        member.get_by_role("button", name="Join the group").click()
        voters.append(member)

    admin.goto(f"{base}/groups/charter-test/charter")
    assert "version 1" in admin.locator("#charter h2").inner_text()
    admin.get_by_role("link", name="Propose a change to the charter").click()
    admin.get_by_label("Title").fill("Raise k to 6")
    admin.get_by_label("Description").fill("Our figures should rest on more people.")
    admin.get_by_label("Fewest members behind any figure members see").fill("6")
    admin.get_by_role("button", name="Open the vote").click()
    assert "Your proposal is open for votes." in admin.locator(".flashes").inner_text()
    proposal_url = admin.url

    for member in voters:
        member.goto(proposal_url)
        member.get_by_label("Yes", exact=True).check()
        member.get_by_role("button", name="Vote").click()
        assert "Your vote is recorded." in member.locator(".flashes").inner_text()

    with app.app_context():  # the voting period ends
        db.session.execute(update(Proposal).values(closes_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    admin.goto(proposal_url)  # "counting" until the worker has closed it, then reloaded
    admin.wait_for_selector("text=Adopted as version 2 of the charter.", timeout=20_000)
    assert "2 of 3 members" in admin.locator("#outcome").inner_text()
    admin.goto(f"{base}/groups/charter-test/charter")
    assert "version 2" in admin.locator("#charter h2").inner_text()
    assert "6 members" in admin.locator("#charter").inner_text()
    assert "by a vote of the members" in admin.locator("#charter-history").inner_text()
