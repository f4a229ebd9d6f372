"""Every free-text field against a corpus of XSS payloads: nothing comes back executable.

Each payload is sent through each field; whether the field refuses it (4xx) or
stores it, every page that shows the field is parsed and checked for markup
that could run script: script elements not from this site, event-handler
attributes, style attributes, script-capable URLs, or embedding elements.
"""

import itertools
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from tecopio.directory.models import Company
from tecopio.governance import decisions
from tecopio.governance.charters import current_charter
from tecopio.groups.models import Group
from tests.factories import PASSWORD
from tests.test_governance import charter_form_data
from tests.xss_payloads import PAYLOADS

URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "xlink:href",
    "poster",
    "background",
}
EMBEDDING = {
    "iframe",
    "object",
    "embed",
    "svg",
    "math",
    "base",
    "frame",
    "frameset",
    "applet",
    "style",
    "img",
    "video",
    "audio",
    "marquee",
    "x",
}
OUR_META = {"charset", "viewport", "csrf-token"}


class DangerFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        ours = (attributes.get("src") or "").startswith("/static/")
        if tag in EMBEDDING and not (tag == "img" and ours):
            self.problems.append(f"<{tag}> element")
        if tag == "script":
            self._in_script = True
            if not (attributes.get("src") or "").startswith("/static/"):
                self.problems.append("script not from /static/")
        if tag == "meta" and not ("charset" in attributes or attributes.get("name") in OUR_META):
            self.problems.append("foreign <meta>")
        if tag == "link" and not (attributes.get("href") or "").startswith("/static/"):
            self.problems.append("foreign <link>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event handler {name}")
            if name == "style":
                self.problems.append("style attribute")
            if name in URL_ATTRIBUTES and value is not None:
                cleaned = "".join(ch for ch in value if ch > " ").lower()
                if cleaned.startswith(("javascript:", "vbscript:")) or (
                    cleaned.startswith("data:") and cleaned != "data:,"
                ):
                    self.problems.append(f"{name}={value!r}")
            if tag == "a" and name == "rel" and "opener" in (value or "").split():
                self.problems.append("rel=opener")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append("inline script")


def dangers(html: str) -> list[str]:
    finder = DangerFinder()
    finder.feed(html)
    return finder.problems


def test_the_checker_sees_danger():
    """The detector must flag what it is there to flag, or the corpus test proves nothing."""
    assert dangers("<p>hello <b>x</b></p>") == []
    for raw in (
        "<script>alert(1)</script>",
        '<a href=" JaVa\tscript:x">',
        "<img src=x onerror=y>",
        '<img src="/static/logo.svg" onerror=y>',
        '<img src="https://evil.example/x.png">',
        '<p style="x">',
    ):
        assert dangers(raw), raw


@pytest.fixture
def member(client, make):
    """A logged-in member with a group to write into; returns (user, group)."""
    user = make.user()
    group = make.group(admin=user, name="XSS Lab")
    client.submit("/login", {"email": user.email, "password": PASSWORD})
    return user, group


def submit_and_collect(client, url, data, pages):
    """Send the payload; return the response and every page that shows the field."""
    response = client.submit(url, data)
    assert response.status_code in (302, 400, 409), (url, response.status_code)
    shown = [response.get_data(as_text=True)]
    if response.status_code == 302:  # the page the person lands on
        pages = [response.headers["Location"], *pages]
    shown += [client.get(page).get_data(as_text=True) for page in pages]
    return response, shown


def field_cases(make, user, group):
    company = make.company(name="Plain Company", sector_id=make.category("energy").id)
    category = make.category("energy-electricity").id
    proposal = decisions.open_proposal(
        make.session, user, group, kind="motion", title="Plain", description=""
    )
    make.session.commit()
    proposal_page = f"/groups/{group.slug}/proposals/{proposal.number}"
    k_values = itertools.cycle(["6", "5"])  # every charter change must change something
    return {
        "proposal title and description": (
            f"/groups/{group.slug}/proposals/new?kind=motion",
            lambda p: {"title": p[:200], "description": p},
            [f"/groups/{group.slug}/proposals"],
        ),
        "proposal comment": (
            f"{proposal_page}/comments",
            lambda p: {"body": p},
            [proposal_page],
        ),
        "charter change reason": (
            f"/groups/{group.slug}/charter/edit",
            lambda p: charter_form_data(
                current_charter(make.session, group),
                privacy__k_anonymity=next(k_values),
                reason=p,
            ),
            [f"/groups/{group.slug}/charter"],
        ),
        "preference note": (
            "/my/preferences/new",
            lambda p: {"category_id": category, "importance": "3", "note": p},
            ["/my/preferences", "/my/data"],
        ),
        "intent description": (
            "/my/intents/new",
            lambda p: {
                "category_id": category,
                "description": p,
                "quantity": "1",
                "unit": "unit",
                "currency": "EUR",
                "budget_min": "1",
                "budget_max": "2",
                "window_start": "2030-01-01",
                "window_end": "2030-02-01",
            },
            ["/my/intents", "/my/data"],
        ),
        "feedback text": (
            "/my/feedback/new",
            lambda p: {"company_id": company.id, "rating": "3", "body": p, "visibility": "group"},
            ["/my/feedback", "/my/data"],
        ),
        "group description": (
            f"/groups/{group.slug}/edit",
            lambda p: {
                "name": group.name,
                "description": p,
                "region": "",
                "membership_policy": "open",
                "k_anonymity": "5",
                "company_k": "10",
            },
            [f"/groups/{group.slug}", "/groups/"],
        ),
        "region": (
            "/account",
            lambda p: {"display_name": "Plain Name", "region": p[:100], "locale": ""},
            ["/account", "/my/data"],
        ),
        "display name": (
            "/account",
            lambda p: {"display_name": p, "locale": ""},
            ["/", f"/groups/{group.slug}/members"],
        ),
    }


@pytest.mark.parametrize(
    "field",
    [
        "preference note",
        "intent description",
        "feedback text",
        "group description",
        "display name",
        "region",
        "proposal title and description",
        "proposal comment",
        "charter change reason",
    ],
)
def test_no_payload_comes_back_executable(client, make, member, field):
    user, group = member
    url, data, pages = field_cases(make, user, group)[field]
    stored = 0
    for payload in PAYLOADS:
        response, shown = submit_and_collect(client, url, data(payload), pages)
        stored += response.status_code == 302
        for html in shown:
            assert dangers(html) == [], (field, payload)
    # The display pages were really exercised: the field accepted payloads.
    assert stored >= 3, (field, stored)


def test_no_payload_in_company_names_or_websites_comes_back_executable(
    client, make, member, db_session
):
    for n, payload in enumerate(PAYLOADS):
        client.submit("/companies/new", {"name": f"{payload} {n}", "website": "", "sector_id": ""})
        client.submit("/companies/new", {"name": f"Site {n}", "website": payload, "sector_id": ""})
    companies = db_session.scalars(select(Company)).all()
    assert companies, "some payload-free names must have been stored"
    pages = ["/companies/", "/my/feedback/new", "/my/preferences/new"]
    pages += [f"/companies/{c.id}" for c in companies]
    for page in pages:
        assert dangers(client.get(page).get_data(as_text=True)) == [], page
    assert not any(c.website.lower().lstrip().startswith("javascript") for c in companies)


def test_no_payload_in_search_boxes_comes_back_executable(client, member):
    for payload in PAYLOADS:
        for page in ("/groups/", "/companies/"):
            html = client.get(page, query_string={"q": payload}).get_data(as_text=True)
            assert dangers(html) == [], (page, payload)


def test_group_names_with_markup_are_refused_and_others_escaped(client, member, db_session):
    for n, payload in enumerate(PAYLOADS):
        client.submit(
            "/groups/new",
            {
                "name": f"{payload[:80]} {n}",
                "description": "",
                "region": payload[:100],
                "membership_policy": "open",
            },
        )
    for group in db_session.scalars(select(Group)).all():
        assert dangers(client.get(f"/groups/{group.slug}").get_data(as_text=True)) == []
    assert dangers(client.get("/groups/").get_data(as_text=True)) == []


def test_the_corpus_is_large_enough():
    assert len(PAYLOADS) >= 50
