"""The offer cycle's first half in a browser: an admin builds and publishes an offer and
invites a company; the company's staff member reads it in the partner portal."""

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from tecopio.db import db
from tecopio.demo import DEMO_ENERGY_SLUG, DEMO_PASSWORD
from tests.test_pages import load_demo

pytestmark = pytest.mark.browser


def log_in(page, base, email):
    page.goto(f"{base}/login")
    page.locator("main input[name=email]").fill(email)
    page.locator("main input[name=password]").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base}/")


def test_an_admin_publishes_an_offer_and_the_invited_company_reads_it(app, live_server, new_page):
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        load_demo(app, session)
    base = live_server
    admin = new_page()
    log_in(admin, base, "ane@example.com")
    admin.goto(f"{base}/groups/{DEMO_ENERGY_SLUG}/offers")
    admin.get_by_role("link", name="New offer").click()
    admin.get_by_label("Title").fill("Wind power for 2027")
    admin.get_by_label("Category").select_option(label="Energy")
    admin.get_by_label("Tipping point").fill("5")  # below the company minimum
    admin.get_by_label("Bids until").fill((date.today() + timedelta(days=10)).isoformat())
    admin.get_by_role("button", name="Save the draft").click()
    assert "company minimum" in admin.content()
    admin.get_by_label("Tipping point").fill("12")
    admin.get_by_role("button", name="Save the draft").click()
    assert "Draft saved" in admin.content()
    assert "Preview" in admin.content()
    admin.get_by_role("button", name="Publish…").click()
    assert "Publish offer 5" in admin.locator("h1").inner_text()
    admin.get_by_role("button", name="Publish the offer").click()
    assert "The offer is published" in admin.content()
    admin.get_by_label("Ekiluz Energia Kooperatiba").check()
    admin.get_by_role("button", name="Invite").click()
    assert "Invited: Ekiluz Energia Kooperatiba" in admin.content()

    company = new_page()
    log_in(company, base, "nora@example.com")
    company.goto(f"{base}/notifications")
    company.get_by_role(
        "link", name="invites Ekiluz Energia Kooperatiba to bid on its offer “Wind power for 2027”"
    ).click()
    assert "Wind power for 2027" in company.locator("main h2").first.inner_text()
    figures = company.locator("#offer-figures").inner_text()
    assert "Every number rests on at least 10 members" in figures
    company.get_by_role("link", name="Offers").click()
    listed = company.locator("main table").inner_text()
    assert "Wind power for 2027" in listed and "Renewable electricity" in listed


def test_a_company_bids_and_the_members_compare_the_bids(app, live_server, new_page):
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        load_demo(app, session)
    base = live_server
    company = new_page()
    log_in(company, base, "nora@example.com")
    company.goto(f"{base}/notifications")
    company.get_by_role("link", name="to bid on its offer “Renewable electricity").click()
    assert "Your company has not answered yet" in company.content()
    company.get_by_role("link", name="Bid", exact=True).click()
    company.get_by_label("Price at the tipping point").fill("0.21")
    company.get_by_label("Price at 20 committed members").fill("0.20")
    company.get_by_label("Price at 30 committed members").fill("0.19")
    company.get_by_label("Fee amount").fill("-3")
    company.get_by_role("button", name="Submit the bid").click()
    assert "The amount cannot be negative" in company.content()
    company.get_by_label("Fee amount").fill("12")
    company.get_by_label("Warranty (months)").fill("24")
    company.get_by_role("button", name="Submit the bid").click()
    assert "Your bid is in" in company.content()
    answer = company.locator("#your-bid").inner_text()
    assert "€0.21" in answer and "€12.00" in answer
    assert "Red Eléctrica" not in company.content()  # another company's bid is not its business

    member = new_page()
    log_in(member, base, "iker@example.com")
    member.goto(f"{base}/groups/{DEMO_ENERGY_SLUG}/offers/1")
    sealed = member.locator("#bids").inner_text()
    assert "stay sealed" in sealed and "received so far" not in sealed  # no live count
    assert "Ekiluz" not in member.locator("#bids").inner_text()  # sealed until the deadline
    member.goto(f"{base}/groups/{DEMO_ENERGY_SLUG}/offers/3")
    member.get_by_role("link", name="Compare the bids side by side").click()
    ranking = member.locator("#ranking").inner_text()
    assert ranking.index("Ekiluz") < ranking.index("Red Eléctrica")
    assert "stays first whichever weight moves by 10 % up or down" in ranking
    assert "The members are voting on the group's choice" in member.content()


def test_a_member_commits_to_a_deal_and_sees_how_many_more_to_tip(app, live_server, new_page):
    """The demo's tipped deal: Iker commits at the next tier's condition and reads where the
    deal stands; the company's owner then finds the deal in the portal."""
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        load_demo(app, session)
    base = live_server
    member = new_page()
    log_in(member, base, "iker@example.com")
    member.goto(f"{base}/groups/{DEMO_ENERGY_SLUG}/offers/4")
    member.get_by_role("link", name="See the deal and commit").click()
    assert "4 more for the next tier" in member.content()
    member.get_by_label("How many").fill("0")
    member.get_by_role("button", name="Commit").click()
    assert "Enter a whole number from 1" in member.content()
    member.get_by_label("How many").fill("2")
    member.get_by_label("Share my name and email").check()
    member.get_by_role("button", name="Commit").click()
    text = member.content()
    assert "You are committed to a deal that goes ahead" in text
    assert "12 members committed" in text and "3 more for the next tier" in text
    assert "Withdraw…" not in text  # binding: the deal has gone ahead
    company = new_page()
    log_in(company, base, "nora@example.com")
    company.goto(f"{base}/partners/ekiluz-energia-kooperatiba/offers/{DEMO_ENERGY_SLUG}/4")
    text = company.content()
    assert "The deal goes ahead." in text and "iker@example.com" in text


def test_a_member_rates_the_deal_and_the_company_answers_the_feedback(app, live_server, new_page):
    """After committing to the demo's deal, Iker rates it; Nora reads the group's released
    feedback about Ekiluz, answers it, and Iker reads the answer in the group's feed."""
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        load_demo(app, session)
    base = live_server
    member = new_page()
    log_in(member, base, "iker@example.com")
    member.goto(f"{base}/groups/{DEMO_ENERGY_SLUG}/offers/4/deal")
    assert "Rate the deal" not in member.content()  # not committed: not a buyer
    member.get_by_label("How many").fill("1")
    member.get_by_role("button", name="Commit").click()
    member.get_by_role("button", name="Save my rating").click()
    assert "Choose a rating." in member.content()
    member.locator("#rating-4").check()  # five stars
    member.get_by_label("Your experience").fill("Clear contract, **fair** price.")
    member.get_by_label("Also partner companies, in aggregates of many members").check()
    member.get_by_role("button", name="Save my rating").click()
    text = member.content()
    assert "Thank you: your rating is saved." in text and "Change my rating" in text
    company = new_page()
    log_in(company, base, "nora@example.com")
    company.goto(f"{base}/partners/ekiluz-energia-kooperatiba")
    company.get_by_role("link", name="Feedback").click()
    text = company.content()
    assert "Bilbao Green Energy Cooperative" in text and "Members who rated it" in text
    assert "Iker" not in text
    company.get_by_label("Your answer to the members' feedback").fill(
        "Thank you, Iker's neighbours: we read every rating."
    )
    company.get_by_role("button", name="Publish the answer").click()
    assert "Your answer is in the group's feed." in company.content()
    company.get_by_role("link", name="Activity").click()
    assert "Nora Ibarra answered the feedback of Bilbao Green Energy Cooperative." in (
        company.content()
    )
    member.goto(f"{base}/groups/{DEMO_ENERGY_SLUG}/feed")
    text = member.content()
    assert "Ekiluz Energia Kooperatiba answered the members" in text
    assert "we read every rating" in text
