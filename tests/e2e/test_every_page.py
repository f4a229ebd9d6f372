"""Every page in a real browser, as each demo person sees it: it fits, and axe finds no
serious or critical accessibility problem.

Layout: at 390 px and 1280 px, no page is wider than the window (the document and
every card: a table may scroll inside its own frame). Every page is checked for
every demo person who may open it in English, and in Spanish and Basque (their
words are longer) for one person each. Accessibility: axe-core on every page, in
the three languages, at both widths, as the person who sees most of it.
"""

import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy.orm import Session

from tecopio.db import db
from tecopio.demo import DEMO_PASSWORD
from tests.test_pages import ACCESS, PERSONAS, load_demo

pytestmark = pytest.mark.browser

WIDTHS = (390, 1280)
SERIOUS = {"serious", "critical"}

OVERFLOW = """() => {
  const too_wide = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) too_wide.push(`page ${root.scrollWidth}px`);
  for (const card of document.querySelectorAll('.card, .site-header, .site-footer')) {
    if (card.scrollWidth > card.clientWidth + 1) {
      const name = card.id || card.className;
      too_wide.push(`${card.tagName.toLowerCase()}#${name} ${card.scrollWidth}px`);
    }
  }
  return too_wide;
}"""


@pytest.fixture
def demo_site(app, live_server):
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        demo = load_demo(app, session)
        demo["emails"] = {name: user.email for name, user in demo["people"].items()}
    return live_server, demo


def pages_for(demo, persona):
    column = PERSONAS.index(persona)
    return {
        endpoint: url
        for endpoint, url in demo["urls"].items()
        if ACCESS[endpoint][column] == 200 and not url.endswith(".csv")
    }


class Visitor:
    """One demo person in one browser context: logged in once (log-ins are rate-limited)."""

    def __init__(self, new_page, base, demo, persona):
        self.base, self.page, self.locale = base, new_page(), "en"
        if persona != "anonymous":
            self.page.goto(f"{base}/login")
            self.page.locator("main input[name=email]").fill(demo["emails"][persona])
            self.page.locator("main input[name=password]").fill(DEMO_PASSWORD)
            self.page.locator("main form button[type=submit]").click()
            self.page.wait_for_url(f"{base}/")

    def speak(self, locale, width):
        self.page.set_viewport_size({"width": width, "height": 900})
        if locale != self.locale:
            self.page.goto(f"{self.base}/")
            self.page.locator(f"footer button[value={locale}]").click()
            self.page.wait_for_load_state()
            self.locale = locale
        return self.page


# Pages no demo person opens (the table's answer is an error for all); their template is
# looked at through another page.
SEEN_ELSEWHERE = {
    "bids.edit_bid": "bids.new_bid",  # the demo's bids are past their deadline
    "ledger.invoice_paid": "ledger.company_invoices",  # where it sends the company back
    "ledger.payout_account_back": "ledger.mine",  # where it sends the member back
}


def first_persona_for(endpoint) -> str:
    """The person who sees most of a page: an admin where admins may, else the first allowed."""
    allowed = [p for p, status in zip(PERSONAS, ACCESS[endpoint], strict=True) if status == 200]
    return "ane" if "ane" in allowed else allowed[0]


def pages_by_first_persona(demo) -> dict[str, list[str]]:
    pages = {}
    for endpoint, url in demo["urls"].items():
        if not url.endswith(".csv") and endpoint not in SEEN_ELSEWHERE:
            pages.setdefault(first_persona_for(endpoint), []).append(url)
    return pages


def test_no_page_is_wider_than_the_window(demo_site, new_page):
    base, demo = demo_site
    visitors = {persona: Visitor(new_page, base, demo, persona) for persona in PERSONAS}
    visits = [
        (persona, "en", url) for persona in PERSONAS for url in pages_for(demo, persona).values()
    ]
    for locale in ("es", "eu"):
        for persona, urls in pages_by_first_persona(demo).items():
            visits += [(persona, locale, url) for url in urls]
    # The check sees a card too wide for its content (else passing proves nothing).
    control = visitors["anonymous"].page
    control.set_content('<div class="card" style="width:100px"><p style="width:500px">x</p></div>')
    assert control.evaluate(OVERFLOW) == ["div#card 500px"]
    too_wide = {}
    for persona, locale, url in visits:
        for width in WIDTHS:
            page = visitors[persona].speak(locale, width)
            page.goto(base + url)
            if problems := page.evaluate(OVERFLOW):
                too_wide[f"{persona} {locale} {width} {url}"] = problems
    assert too_wide == {}


def test_no_page_has_a_serious_accessibility_problem(demo_site, new_page):
    base, demo = demo_site
    axe = Axe()
    problems = {}
    pages = pages_by_first_persona(demo)
    visitors = {persona: Visitor(new_page, base, demo, persona) for persona in pages}
    # axe sees a serious problem where there is one (else passing proves nothing).
    control = visitors["anonymous"].page
    control.set_content('<html lang="en"><body><main><button></button></main></body></html>')
    assert "button-name" in [v["id"] for v in axe.run(control).response["violations"]]
    for locale, width in [(locale, width) for locale in ("en", "es", "eu") for width in WIDTHS]:
        for persona, urls in pages.items():
            page = visitors[persona].speak(locale, width)
            for url in urls:
                page.goto(base + url)
                results = axe.run(page)
                serious = [
                    f"{v['id']}: {v['nodes'][0]['target']}"
                    for v in results.response["violations"]
                    if v["impact"] in SERIOUS
                ]
                if serious:
                    problems[f"{persona} {locale} {width} {url}"] = serious
    assert problems == {}
