"""Money in a browser: an admin records a company's bank transfer, which is shared at once;
a member opens how their share was computed."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tecopio.db import db
from tecopio.demand.models import Deal
from tecopio.demo import DEMO_ENERGY_SLUG
from tecopio.groups.models import Group
from tecopio.ledger import services as money
from tests.e2e.test_offers_browser import log_in
from tests.test_pages import load_demo

pytestmark = pytest.mark.browser


def test_an_admin_records_a_payment_and_a_member_sees_how_their_share_was_computed(
    app, live_server, new_page
):
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        load_demo(app, session)
        # Five more households joined the demo's deal: Ekiluz is told, and invoiced for them.
        group = session.scalar(select(Group).where(Group.slug == DEMO_ENERGY_SLUG))
        deal = session.scalar(select(Deal).where(Deal.group_id == group.id))
        deal.told_members += 5
        invoice = money.issue_invoice(session, deal)
        session.commit()
        number, amount = invoice.number, invoice.amount
    assert amount == 6_000
    base = live_server
    admin = new_page()
    log_in(admin, base, "ane@example.com")
    admin.goto(f"{base}/groups/{DEMO_ENERGY_SLUG}")
    admin.get_by_role("link", name="Money").click()
    assert "Awaiting payment" in admin.content()
    admin.locator(f"#reference-{number}").fill("BBVA transfer 2026-0533")
    admin.get_by_role("button", name="Record the payment").click()
    text = admin.content()
    assert f"Record the payment of invoice {number}?" in text and "€60.00" in text
    admin.get_by_role("button", name="Yes, record and share it").click()
    assert f"The payment of invoice {number} is recorded and shared" in admin.content()
    admin.get_by_role("button", name="Verify the ledger").click()
    assert "The ledger verifies" in admin.content()
    member = new_page()
    log_in(member, base, "iker@example.com")
    member.goto(f"{base}/groups/{DEMO_ENERGY_SLUG}/money/mine")
    member.get_by_role("link", name="How was it computed?").first.click()
    text = member.content()
    assert "How my share was computed" in text
    assert "The company paid €60.00." in text and "Your weight was" in text
    assert "Your share:" in text
