"""The analytics page and its CSV: who may see them, what they show, and what they never show."""

import csv
import io
import json
from datetime import date
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from tecopio import jobs
from tecopio.accounts.services import update_profile
from tecopio.analytics.models import AnalyticsSnapshot
from tecopio.groups.models import MembershipStatus
from tecopio.memberdata.models import PreferenceCompany, Stance
from tecopio.privacy.models import Consent
from tecopio.privacy.records import erase_account
from tecopio.privacy.services import set_consent
from tests.factories import PASSWORD


def build_group(make, size: int, *, name="Bilbao Energy"):
    """A group whose ``size`` members all share energy data: an intent, a preference, feedback."""
    group = make.group(name=name, k_anonymity=3)
    admin = make.admin_of(group)
    company = make.company(name=f"Ekiluz {name}", sector_id=make.category("energy").id)
    members = []
    for n in range(size):
        user = make.member(
            group, display_name=f"Secret Name {n}", email=f"secret{n}.{group.slug}@example.com"
        )
        make.consent(user, group, "energy")
        make.intent(
            user,
            category=make.category("energy-electricity"),
            budget_min=100 * n,
            budget_max=100 * n + 50,
        )
        make.preference(
            user,
            companies=[PreferenceCompany(company=company, stance=Stance.LIKE)],
            category=make.category("energy-solar"),
            values=["renewable", "local"],
            importance=4,
        )
        make.feedback(
            user,
            company=company,
            category=make.category("energy"),
            rating=1 + n % 5,
            body=f"private words {n}",
        )
        members.append(user)
    return group, admin, members


def change_everything(make, member):
    """A member changes each kind of energy data: an intent, a preference and feedback."""
    make.intent(member, category=make.category("energy-gas"))
    make.preference(member, category=make.category("energy-gas"), values=["local"])
    make.feedback(member, company=make.company(), category=make.category("energy"), rating=3)


def login(client, user):
    assert client.submit("/login", {"email": user.email, "password": PASSWORD}).status_code == 302


class TableReader(HTMLParser):
    """The text of each row of one table on the page."""

    def __init__(self, table_id):
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []
            self.colspan = int(attrs.get("colspan", 1))

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def page_table(html, name):
    reader = TableReader(f"table-{name}")
    reader.feed(html)
    return reader.rows


@pytest.mark.parametrize(
    "role, page, csv_status",
    [
        ("anonymous", 302, 302),
        ("outsider", 403, 403),
        ("applicant", 403, 403),
        ("member", 200, 403),
        ("admin", 200, 200),
        ("other_admin", 403, 403),
    ],
)
def test_who_may_see_analytics_and_download_csv(client, make, role, page, csv_status):
    group, admin, members = build_group(make, 4)
    applicant = make.user()
    make.membership(group, applicant, status=MembershipStatus.PENDING)
    people = {
        "outsider": make.user(),
        "applicant": applicant,
        "member": members[0],
        "admin": admin,
        "other_admin": make.admin_of(make.group()),
    }
    if role != "anonymous":
        login(client, people[role])
    assert client.get(f"/groups/{group.slug}/analytics").status_code == page
    assert client.get(f"/groups/{group.slug}/analytics/demand.csv").status_code == csv_status


def test_unknown_groups_and_figures_are_not_found(client, make):
    group, admin, _members = build_group(make, 3)
    login(client, admin)
    assert client.get("/groups/nowhere/analytics").status_code == 404
    assert client.get(f"/groups/{group.slug}/analytics/secrets.csv").status_code == 404


def test_the_page_shows_figures_and_never_a_member(client, make):
    group, admin, members = build_group(make, 6)
    login(client, members[0])
    html = client.get(f"/groups/{group.slug}/analytics").text
    assert "Demand by category" in html and 'class="bars"' in html
    demand = page_table(html, "demand")
    assert demand[1][:3] == ["Energy", "6", "6"]
    for secret in ("Secret Name", "secret0.", "@example.com", "private words"):
        assert secret not in html
    assert "With written comments" not in html  # comment counts are for admins


def test_admins_see_how_many_ratings_have_comments_never_the_words(client, make):
    group, admin, _members = build_group(make, 6)
    login(client, admin)
    html = client.get(f"/groups/{group.slug}/analytics").text
    assert "With written comments" in html
    assert "private words" not in html


def test_comment_counts_show_only_where_k_members_wrote(client, make, db_session):
    """Issue case 4: "with written comments" showed 1 for a company rated by 9 members."""
    group, admin, members = build_group(make, 6)  # k is 3; everyone wrote about Ekiluz
    quiet = make.company(name="Quiet Co")
    for n, member in enumerate(members):
        make.feedback(
            member,
            company=quiet,
            category=make.category("energy"),
            rating=4,
            body="a few words" if n < 2 else "",
            body_html="<p>a few words</p>" if n < 2 else "",
        )
    db_session.commit()
    login(client, admin)
    rows = {
        row[0]: row
        for row in csv.reader(
            io.StringIO(client.get(f"/groups/{group.slug}/analytics/ratings.csv").text)
        )
    }
    header = rows["Company or rating"]
    column = header.index("With written comments")
    assert rows[f"Ekiluz {group.name}"][column] == "6"
    assert rows["Quiet Co"][1] == "6" and rows["Quiet Co"][column] == ""  # two wrote: not shown
    region_page = client.get(
        f"/groups/{group.slug}/analytics/ratings.csv", query_string={"year": date.today().year}
    )
    assert all(
        row[column] == ""
        for row in list(csv.reader(io.StringIO(region_page.text)))[1:]
        if len(row) > column
    )


def test_a_member_moving_region_changes_nothing_until_k_members_have_changed(
    client, make, db_session
):
    """Issue case 3: a filter's CSV before and after one member's move showed that member."""
    group, admin, members = build_group(make, 7)
    for member, region in zip(members, ["bilbao"] * 3 + ["getxo"] * 4, strict=True):
        update_profile(member, display_name=member.display_name, locale="en", region=region.title())
    db_session.commit()
    login(client, admin)
    url = f"/groups/{group.slug}/analytics/demand.csv"
    before = client.get(url, query_string={"region": "bilbao"}).text
    update_profile(members[3], display_name="Mover", locale="en", region="Bilbao")
    db_session.commit()
    assert client.get(url, query_string={"region": "bilbao"}).text == before
    # Withdrawn consent takes the whole release off at once, never a recount showing the drop.
    set_consent(db_session, members[4], group, make.category("energy"), False)
    db_session.commit()
    assert client.get(url, query_string={"region": "bilbao"}).status_code == 409
    for member in members[5:7]:
        change_everything(make, member)
        update_profile(member, display_name=member.display_name, locale="en", region="Bilbao")
    db_session.commit()
    after = client.get(url, query_string={"region": "bilbao"})
    # Three members changed their energy data, and three their region.
    assert after.status_code == 200 and after.text != before


def test_small_figures_are_left_out_and_read_as_empty(client, make, db_session):
    """A row's label alone (a sub-category, a quarter) would tell a few members are there;
    a figure whose total alone is hidden reads like one with no data at all."""
    group, admin, members = build_group(make, 3)
    make.charter(group, k_anonymity=4)
    db_session.commit()
    login(client, admin)
    html = client.get(f"/groups/{group.slug}/analytics").text
    assert page_table(html, "demand") == []
    assert "Too few members share this kind of data with the group for a figure yet" in html
    for name in ("windows", "values", "trend-intents"):
        assert len(page_table(html, name)) <= 1  # a header at most


@pytest.mark.parametrize(
    "name",
    [
        "demand",
        "windows",
        "values",
        "brands",
        "ratings",
        "trend-intents",
        "trend-preferences",
        "trend-feedback",
        "segments",
    ],
)
def test_csv_export_matches_the_page(client, make, name):
    group, admin, _members = build_group(make, 7)
    login(client, admin)
    html = client.get(f"/groups/{group.slug}/analytics").text
    shown = page_table(html, name)
    response = client.get(f"/groups/{group.slug}/analytics/{name}.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:-1] == shown[0]
    for csv_row, page_row in zip(rows[1:], shown[1:], strict=True):
        label, *cells, note = csv_row
        if note:
            assert page_row == [label.strip(), note]
        else:
            assert page_row == [label.strip(), *cells]


def test_filters_and_their_refusals(client, make):
    group, admin, _members = build_group(make, 5)
    login(client, admin)
    food = make.category("food")
    html = client.get(f"/groups/{group.slug}/analytics", query_string={"category": food.id}).text
    assert page_table(html, "demand") == []
    for query in (
        {"category": "999999"},
        {"year": "1999"},
        {"year": "next"},
        {"category": str(food.id), "year": str(date.today().year)},
    ):
        response = client.get(f"/groups/{group.slug}/analytics", query_string=query)
        assert response.status_code == 400
        assert (
            client.get(f"/groups/{group.slug}/analytics/demand.csv", query_string=query).status_code
            == 400
        )


def test_withdrawn_consent_takes_the_release_off_the_page_until_k_members_change(
    client, make, db_session
):
    group, admin, members = build_group(make, 4)
    login(client, admin)
    page = client.get(f"/groups/{group.slug}/analytics").text
    assert page_table(page, "demand")[1][:2] == ["Energy", "4"]
    assert "Release 1" in page
    consent = db_session.scalar(select(Consent).where(Consent.user_id == members[0].id))
    consent.granted = False
    db_session.commit()
    # At once: the release that counted the member's data leaves the page as a whole.
    page = client.get(f"/groups/{group.slug}/analytics").text
    assert 'id="withdrawn-notice"' in page and page_table(page, "demand") == []
    csv_response = client.get(f"/groups/{group.slug}/analytics/demand.csv")
    assert csv_response.status_code == 409
    # Not recomputed at once: the difference would be that member's data alone.
    change_everything(make, members[1])
    db_session.commit()
    page = client.get(f"/groups/{group.slug}/analytics").text
    assert page_table(page, "demand") == []
    # Intents alone are not enough: preferences and feedback changed with one member too.
    make.intent(members[2], category=make.category("energy-electricity"))
    db_session.commit()
    assert page_table(client.get(f"/groups/{group.slug}/analytics").text, "demand") == []
    change_everything(make, members[3])
    db_session.commit()
    page = client.get(f"/groups/{group.slug}/analytics").text
    assert "Release 2" in page
    # Energy's members went from 4 to 3 with that one member's withdrawal alone (the three
    # others were there already): the row is not shown, though its intents moved for four.
    assert not any(row[:1] == ["Energy"] for row in page_table(page, "demand"))


def test_the_page_runs_as_many_statements_for_a_group_ten_times_larger(
    make_client, make, count_queries
):
    counts = []
    for size, name in ((4, "Small"), (40, "Large")):
        group, admin, _members = build_group(make, size, name=name)
        browser = make_client()
        login(browser, admin)
        with count_queries() as counter:
            assert browser.get(f"/groups/{group.slug}/analytics").status_code == 200
        counts.append(counter["n"])
    assert counts[0] == counts[1]


def test_a_valid_date_filter_alone_is_accepted(client, make):
    group, admin, _members = build_group(make, 3)
    login(client, admin)
    response = client.get(
        f"/groups/{group.slug}/analytics", query_string={"year": str(date.today().year)}
    )
    assert response.status_code == 200


def test_region_filter_offers_only_regions_of_k_members(client, make, db_session):
    group, admin, members = build_group(make, 7)
    for member in members[:4]:
        member.region, member.region_key = "Bilbao", "bilbao"
    for member in members[4:6]:
        member.region, member.region_key = "Getxo", "getxo"
    db_session.commit()
    login(client, admin)
    html = client.get(f"/groups/{group.slug}/analytics").text
    assert '<option value="region:bilbao">Bilbao</option>' in html
    assert "Getxo" not in html  # two members: naming the region would say too much
    bilbao = client.get(f"/groups/{group.slug}/analytics", query_string={"region": "bilbao"})
    assert page_table(bilbao.text, "demand")[1][:2] == ["Energy", "4"]
    refused = client.get(f"/groups/{group.slug}/analytics", query_string={"region": "getxo"})
    assert refused.status_code == 400


def test_a_filter_cannot_be_subtracted_from_the_whole_page(client, make, db_session):
    """Six members, five in Bilbao: the Bilbao figures minus the whole would show the sixth."""
    group, admin, members = build_group(make, 6)
    for member in members[:5]:
        member.region, member.region_key = "Bilbao", "bilbao"
    db_session.commit()
    login(client, admin)
    whole = page_table(client.get(f"/groups/{group.slug}/analytics").text, "demand")
    assert whole[1][:2] == ["Energy", "6"]
    html = client.get(f"/groups/{group.slug}/analytics", query_string={"region": "bilbao"}).text
    filtered = page_table(html, "demand")
    # Energy and the total are hidden: the figure reads as empty, like one with no data.
    assert filtered == []


def test_analytics_csv_does_not_run_formulas(client, make):
    group, admin, members = build_group(make, 4)
    evil = make.company(name='=HYPERLINK("https://evil.example")')
    for member in members:
        make.feedback(member, company=evil, category=make.category("energy"), rating=3)
    login(client, admin)
    text = client.get(f"/groups/{group.slug}/analytics/ratings.csv").text
    assert "'=HYPERLINK" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_a_new_release_waits_until_k_members_have_changed_their_data(
    client, make, db_session, count_queries
):
    group, admin, members = build_group(make, 5)
    login(client, admin)
    url = f"/groups/{group.slug}/analytics"
    with count_queries() as first:
        before = page_table(client.get(url).text, "demand")
    with count_queries() as second:
        again = page_table(client.get(url).text, "demand")
    assert again == before and before[1][:3] == ["Energy", "5", "5"]
    assert second["n"] == first["n"]  # a page view reads the release, never computes
    # Two members (k is 3) change: release 1 stays, or the difference would show their data.
    for member in members[:2]:
        make.intent(member, category=make.category("energy-gas"))
        db_session.commit()
        page = client.get(url).text
        assert page_table(page, "demand") == before and "Release 1" in page
    # Someone who shares nothing with the group changes nothing here.
    outsider = make.member(group)
    make.intent(outsider, category=make.category("energy-gas"))
    db_session.commit()
    assert "Release 1" in client.get(url).text
    make.intent(members[2], category=make.category("energy-gas"))
    db_session.commit()
    page = client.get(url).text
    assert "Release 2" in page
    assert page_table(page, "demand")[1][:3] == ["Energy", "5", "8"]


@pytest.fixture
def no_worker(client):
    """Jobs stay queued until ``worker(client)`` runs them: the pages before the worker ran."""
    client.run_jobs = False


def worker(client) -> None:
    with client.application.app_context():
        jobs.run_pending(periodic=True)
        assert jobs.failures() == []


@pytest.mark.usefixtures("no_worker")
def test_a_page_shows_its_release_while_the_next_is_added_up(client, make, db_session):
    group, admin, members = build_group(make, 5)
    login(client, admin)
    url = f"/groups/{group.slug}/analytics"
    first = client.get(url).text
    assert 'id="preparing-notice"' in first and 'http-equiv="refresh"' in first
    worker(client)
    before = page_table(client.get(url).text, "demand")
    assert before[1][:3] == ["Energy", "5", "5"]
    for member in members[:3]:
        make.intent(member, category=make.category("energy-gas"))
    db_session.commit()
    shown = client.get(url).text
    assert page_table(shown, "demand") == before  # shown at once, while the next is added up
    assert 'id="next-release-notice"' in shown and "Release 1" in shown
    worker(client)
    fresh = client.get(url).text
    assert 'id="next-release-notice"' not in fresh and "Release 2" in fresh
    assert page_table(fresh, "demand")[1][:3] == ["Energy", "5", "8"]


@pytest.mark.usefixtures("no_worker")
def test_after_a_withdrawal_a_page_never_shows_the_older_release(client, make, db_session):
    group, admin, members = build_group(make, 5)
    login(client, admin)
    url = f"/groups/{group.slug}/analytics"
    worker(client)
    assert page_table(client.get(url).text, "demand")[1][:3] == ["Energy", "5", "5"]
    set_consent(db_session, members[0], group, make.category("energy"), False)
    db_session.commit()
    html = client.get(url).text
    assert 'id="withdrawn-notice"' in html and 'http-equiv="refresh"' not in html
    assert page_table(html, "demand") == []  # no figure at all
    for member in members[1:3]:
        change_everything(make, member)
    db_session.commit()
    worker(client)
    html = client.get(url).text
    assert "Release 2" in html and 'id="withdrawn-notice"' not in html
    # Energy's members went from 5 to 4 by the withdrawal alone: neither number is shown.
    assert not any(row[:1] == ["Energy"] for row in page_table(html, "demand"))


@pytest.mark.usefixtures("no_worker")
def test_csv_while_the_first_release_is_added_up_says_to_retry(client, make, db_session):
    group, admin, _members = build_group(make, 5)
    login(client, admin)
    response = client.get(f"/groups/{group.slug}/analytics/demand.csv")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "being added up" in response.text
    worker(client)
    assert client.get(f"/groups/{group.slug}/analytics/demand.csv").status_code == 200


def test_noisy_figures_stay_the_same_until_the_data_changes(client, make, db_session):
    group, admin, _members = build_group(make, 8)
    make.charter(group, noise_epsilon_milli=200)
    db_session.commit()
    login(client, admin)
    url = f"/groups/{group.slug}/analytics"
    first = page_table(client.get(url).text, "demand")
    spent = db_session.get(type(group), group.id).privacy_budget_spent_milli
    assert spent > 0
    for _ in range(3):
        assert page_table(client.get(url).text, "demand") == first
    db_session.refresh(group)
    assert group.privacy_budget_spent_milli == spent  # reloading spends nothing more


def test_snapshots_keep_only_released_numbers_and_go_with_an_erasure(
    client, make_client, make, db_session
):
    group, admin, members = build_group(make, 4)
    make.intent(members[0], category=make.category("energy-solar"), quantity=777)
    login(client, admin)
    client.get(f"/groups/{group.slug}/analytics")
    snapshot = db_session.scalar(
        select(AnalyticsSnapshot).where(AnalyticsSnapshot.group_id == group.id)
    )
    payload = json.loads(snapshot.payload)
    solar = next(
        c for r in payload["demand"]["rows"] for c in r["children"] if c["key"] == "energy-solar"
    )
    assert solar["suppressed"] == "too_few" and solar["values"] == {}
    assert "777" not in snapshot.payload
    assert all(row["members"] == 0 for row in payload["demand"]["rows"])
    other, other_admin, _members = build_group(make, 3, name="Elsewhere")
    elsewhere = make_client()
    login(elsewhere, other_admin)
    elsewhere.get(f"/groups/{other.slug}/analytics")
    erase_account(db_session, members[1])
    remaining = db_session.scalars(select(AnalyticsSnapshot.group_id).distinct()).all()
    assert remaining == [other.id]  # only the groups the person was in lose their release
    assert 'id="withdrawn-notice"' in client.get(f"/groups/{group.slug}/analytics").text


def test_one_release_holds_every_page_of_every_filter(client, make, db_session, count_queries):
    """A release holds every page of every filter, computed from the same data."""
    group, admin, members = build_group(make, 6)
    for member, region in zip(members, ["bilbao"] * 3 + ["getxo"] * 3, strict=True):
        member.region, member.region_key = region.title(), region
    db_session.commit()
    login(client, admin)
    url = f"/groups/{group.slug}/analytics"
    with count_queries() as first:
        bilbao = page_table(client.get(url, query_string={"region": "bilbao"}).text, "demand")
    with count_queries() as second:
        getxo = page_table(client.get(url, query_string={"region": "getxo"}).text, "demand")
    assert bilbao[1][:2] == ["Energy", "3"] and getxo[1][:2] == ["Energy", "3"]
    assert second["n"] == first["n"]  # both read from the one release, none computed
    keys = db_session.scalars(
        select(AnalyticsSnapshot.key).where(AnalyticsSnapshot.group_id == group.id)
    ).all()
    assert sorted({key.split("|")[1] for key in keys}) == ["None", "bilbao", "getxo"]
    assert len(keys) == 1 + 9 + 2 + 5  # whole, every category, region and offered year


def test_one_selector_chooses_one_filter_says_what_is_shown_and_resets(client, make, db_session):
    group, admin, members = build_group(make, 6)
    for member in members[:5]:
        member.region, member.region_key = "Getxo", "getxo"
    db_session.commit()
    login(client, admin)
    url = f"/groups/{group.slug}/analytics"
    whole = client.get(url).text
    assert whole.count('name="filter"') == 1
    assert 'name="region"' not in whole and 'name="year"' not in whole
    assert "Showing: all the group's members" in whole
    chosen = client.get(url, query_string={"filter": "region:getxo"})
    assert (chosen.status_code, chosen.headers["Location"]) == (302, f"{url}?region=getxo")
    page = client.get(chosen.headers["Location"]).text
    assert "Showing: Getxo" in page and f'href="{url}">Show everything' in page
    assert '<option value="region:getxo" selected>Getxo</option>' in page
    assert client.get(url, query_string={"filter": ""}).headers["Location"] == url
    for junk in ("nonsense", "region:", "members:3", "category"):
        assert client.get(url, query_string={"filter": junk}).status_code == 400


def test_an_empty_figure_says_honestly_why(client, make):
    group, admin, _members = build_group(make, 5)
    login(client, admin)
    url = f"/groups/{group.slug}/analytics"
    food = make.category("food")
    page = client.get(url, query_string={"category": food.id}).text
    # Nobody shares food data: each figure says so for that filter, never "no member".
    assert "Showing: Food" in page
    assert page.count("Too few members share data in Food of this kind for a figure") >= 5
    assert "no member shares" not in page.lower()
    whole = client.get(url).text
    assert "Too few members share data in Food" not in whole
