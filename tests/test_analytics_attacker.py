"""Playing the attacker against a whole release: every page of every filter, every figure.

The attacker knows every released number of every page and how they add up:
a row is the sum of its children, a total the sum of its rows (one row or
many, released or not), the segments the sum of the members with
preferences, and for every row the whole page is the pages of a filter plus
the part no page shows. Solving every equation with one unknown, no hidden
quantity resting on 1 to k−1 members may come out, and neither may the sum of
the hidden parts of an equation whose other terms are known.
"""

import csv
import io
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tecopio.analytics.cache import publish_if_due, released_page
from tecopio.analytics.queries import Filters, pages_of
from tecopio.analytics.release import Table
from tecopio.categories.services import load_tree
from tecopio.memberdata.models import PreferenceCompany, Stance
from tecopio.privacy.services import set_consent
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("app_ctx")


class Cell:
    """One number of the release, as the attacker sees it (true members kept for judging)."""

    def __init__(self, name, members, known):
        self.name, self.members, self.known = name, members, known


def _rows(table: Table):
    return {row.key: row for row in [*table.all_rows(), *([table.total] if table.total else [])]}


def equations_of(pages: dict, dimension_pages: list, outside_members: dict) -> list:
    """(whole, parts) equations between cells of every page, with a cell per row."""
    cells: dict = {}

    def cell(page_name, table_name, row):
        key = (page_name, table_name, row.key)
        if key not in cells:
            cells[key] = Cell(key, row.members, row.released)
        return cells[key]

    equations = []
    for page_name, figures in pages.items():
        for table in [*figures.tables(), figures.comparable()[-1]]:
            for row in table.all_rows():
                if row.children:
                    equations.append(
                        (
                            cell(page_name, table.name, row),
                            [cell(page_name, table.name, c) for c in row.children],
                        )
                    )
            if table.total is not None and table.rows:
                equations.append(
                    (
                        cell(page_name, table.name, table.total),
                        [cell(page_name, table.name, r) for r in table.rows],
                    )
                )
    # Figures that add up to the same number on a page: one unknown cell for that number.
    for page_name, figures in pages.items():
        for same_intents in (figures.windows, figures.trends["intents"]):
            if figures.demand.total is not None and same_intents.rows:
                equations.append(
                    (
                        cell(page_name, "demand", figures.demand.total),
                        [cell(page_name, same_intents.name, r) for r in same_intents.rows],
                    )
                )
        for kind, tables in (
            ("feedback", (figures.ratings, figures.trends["feedback"])),
            ("preferences", (figures.preference_roots, figures.trends["preferences"])),
            ("intents", (figures.trends["intents"],)),
        ):
            members = sum(r.members for r in tables[-1].rows)
            shared = Cell((page_name, "sum", kind), members, False)
            cells[(page_name, "sum", kind)] = shared
            for table in tables:
                if table.rows:
                    equations.append((shared, [cell(page_name, table.name, r) for r in table.rows]))
    for kind in ("feedback", "preferences", "intents"):
        parts = [cells[(f, "sum", kind)] for f in dimension_pages]
        rest = outside_members.get(("sum", kind), 0)
        parts.append(Cell(("outside", "sum", kind), rest, rest == 0))
        equations.append((cells[(Filters(), "sum", kind)], parts))
    whole = pages[Filters()]
    for index, whole_table in enumerate(whole.comparable()):
        for key, whole_row in _rows(whole_table).items():
            parts = []
            for page_name in dimension_pages:
                row = _rows(pages[page_name].comparable()[index]).get(key)
                if row is not None:
                    parts.append(cell(page_name, whole_table.name, row))
            rest = outside_members.get((whole_table.name, key), 0)
            parts.append(Cell(("outside", whole_table.name, key), rest, rest == 0))
            equations.append((cell(Filters(), whole_table.name, whole_row), parts))
    return equations


def attack(equations, k: int) -> list:
    progress = True
    while progress:
        progress = False
        for whole, parts in equations:
            unknown = [c for c in [whole, *parts] if not c.known]
            if len(unknown) == 1:
                unknown[0].known = True
                progress = True
    leaks = set()
    for whole, parts in equations:
        for c in [whole, *parts]:
            if c.known and 0 < c.members < k:
                leaks.add(("cell", c.name))
        hidden = [c for c in parts if not c.known]
        if whole.known and hidden and 0 < sum(c.members for c in hidden) < k:
            leaks.add(("sum", tuple(c.name for c in hidden)))
    return sorted(leaks, key=str)


def release_of(db_session, group, dimension: str):
    """Every page of one filter with the whole page, and the part no page shows, unreleased."""
    pages = pages_of(db_session, group, load_tree(db_session), "en", [dimension])
    # What no page shows: the whole page's members minus those of every page (regions only
    # partition members; for categories and years it is what the pages leave out).
    outside = {}
    dimension_pages = [f for f in pages if f.active]
    whole = pages[Filters()]
    for index, whole_table in enumerate(whole.comparable()):
        for key, whole_row in _rows(whole_table).items():
            inside = sum(
                _rows(pages[f].comparable()[index]).get(key).members
                for f in dimension_pages
                if key in _rows(pages[f].comparable()[index])
            )
            outside[(whole_table.name, key)] = max(whole_row.members - inside, 0)
    for kind in ("feedback", "preferences", "intents"):
        outside[("sum", kind)] = sum(outside[(kind, row.key)] for row in whole.trends[kind].rows)
    return pages, dimension_pages, outside


def regions_with_a_few_outside(make, db_session, k=3):
    """k members in Bilbao, k in Getxo and k−1 without a region, all sharing energy data."""
    group = make.group(k_anonymity=k)
    company = make.company(name="Ekiluz")
    people = []
    for n, region in enumerate(["bilbao"] * k + ["getxo"] * k + [None] * (k - 1)):
        user = make.member(group)
        user.region, user.region_key = (region.title(), region) if region else (None, None)
        make.consent(user, group, "energy")
        make.intent(user, category=make.category("energy-electricity"), quantity=100 + n)
        make.preference(
            user,
            category=make.category("energy-solar"),
            values=["renewable"],
            companies=[PreferenceCompany(company=company, stance=Stance.LIKE)],
        )
        make.feedback(user, company=company, category=make.category("energy"), rating=4)
        people.append(user)
    db_session.flush()
    return group, people


def test_the_segments_of_a_region_are_released_together_with_the_other_figures(db_session, make):
    """Issue case 1: the Bilbao segment gave away Bilbao's members, hidden elsewhere."""
    group, _people = regions_with_a_few_outside(make, db_session)
    pages, dimension_pages, outside = release_of(db_session, group, "region")
    segment_totals = [pages[f].segments.total for f in dimension_pages]
    assert any(not total.released for total in segment_totals)
    for f in dimension_pages:
        segments = pages[f].segments
        if not segments.total.released:  # what the rows add up to is hidden: so is a row
            assert not all(row.released for row in segments.rows)
    assert attack(equations_of(pages, dimension_pages, outside), 3) == []


def test_a_hidden_total_is_not_its_only_released_row(db_session, make):
    """Issue case 2: "All categories" hidden on the Bilbao page but equal to its Energy row."""
    group, _people = regions_with_a_few_outside(make, db_session)
    pages, dimension_pages, outside = release_of(db_session, group, "region")
    for f in dimension_pages:
        demand = pages[f].demand
        if not demand.total.released:
            assert [row.released for row in demand.rows] == [False] * len(demand.rows)
    assert attack(equations_of(pages, dimension_pages, outside), 3) == []


def test_the_attacker_finds_the_leak_when_totals_are_not_equations(db_session, make):
    """The attack is real: a hidden total beside its only row, released, is recovered."""
    group, _people = regions_with_a_few_outside(make, db_session)
    pages, dimension_pages, outside = release_of(db_session, group, "region")
    hidden = next(f for f in dimension_pages if not pages[f].demand.total.released)
    for row in pages[hidden].demand.all_rows():
        row.suppressed = None  # what release() did before "total = its rows" was an equation
    leaks = attack(equations_of(pages, dimension_pages, outside), 3)
    assert ("cell", ("outside", "demand", "total")) in leaks


@pytest.mark.parametrize("dimension", ["region", "category", "year"])
@pytest.mark.parametrize("shape", ["exactly_k", "few_outside", "single_member_category"])
def test_no_page_of_any_filter_reveals_fewer_than_k(db_session, make, dimension, shape):
    k = 3
    group = make.group(k_anonymity=k)
    if shape == "exactly_k":
        regions = ["bilbao"] * k
    elif shape == "few_outside":
        regions = ["bilbao"] * (k + 1) + ["getxo"] * k + [None] * 2
    else:
        regions = ["bilbao"] * 4 + [None] * 4
    company = make.company(name="Ekiluz")
    for n, region in enumerate(regions):
        user = make.member(group)
        user.region, user.region_key = (region.title(), region) if region else (None, None)
        for slug in ("energy", "food"):
            make.consent(user, group, slug)
        make.intent(
            user,
            category=make.category("energy-electricity" if n % 3 else "energy-gas"),
            budget_min=1000 * n,
            budget_max=1000 * n + 500,
        )
        make.preference(user, category=make.category("energy-solar"), values=["local"])
        make.feedback(user, company=company, category=make.category("energy"), rating=1 + n % 5)
        if shape == "single_member_category" and n == 0:
            make.intent(user, category=make.category("food-produce"))
            make.preference(user, category=make.category("food"), values=["organic"])
    db_session.flush()
    pages, dimension_pages, outside = release_of(db_session, group, dimension)
    assert attack(equations_of(pages, dimension_pages, outside), k) == []
    for figures in pages.values():
        for table in figures.tables():
            for row in table.all_rows():
                if row.released and row.values.get("members") is not None:
                    assert row.values["members"] == 0 or row.values["members"] >= k, row.key


# --- through the pages and downloads, as a person sees them ---------------------------


def csv_members(text: str) -> list[int]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or "Members" not in rows[0]:
        return []
    column = rows[0].index("Members")
    return [int(row[column].replace(",", "")) for row in rows[1:] if row[column].strip()]


SHAPES = {
    "small, one region of exactly k": ["bilbao"] * 3,
    "regions and members without one": ["bilbao"] * 3 + ["getxo"] * 4 + [None] * 2,
    "one region and many without": ["getxo"] * 3 + [None] * 5,
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_csv_of_every_filter_releases_only_counts_of_k_or_more(
    client, make, db_session, shape
):
    k = 3
    group = make.group(k_anonymity=k)
    admin = make.admin_of(group)
    company = make.company(name="Ekiluz")
    for n, region in enumerate(SHAPES[shape]):
        user = make.member(group)
        user.region, user.region_key = (region.title(), region) if region else (None, None)
        for slug in ("energy", "food"):
            make.consent(user, group, slug)
        make.intent(user, category=make.category("energy-electricity"), quantity=10 * n + 10)
        make.preference(user, category=make.category("energy-solar"), values=["renewable"])
        make.feedback(user, company=company, category=make.category("energy"), rating=5)
        if n == 0:  # a category with a single member
            make.intent(user, category=make.category("food-produce"))
    db_session.commit()
    client.submit("/login", {"email": admin.email, "password": PASSWORD})
    url = f"/groups/{group.slug}/analytics"
    page = client.get(url).text
    # Every choice of the page's one filter selector ("region:getxo"), as its own query.
    select = re.search(r'<select[^>]*name="filter".*?</select>', page, re.S).group(0)
    choices = [v.split(":", 1) for v in re.findall(r'value="([^"]*)"', select) if v]
    queries = [{}] + [{name: value} for name, value in choices]
    assert len(queries) > 5  # categories and years at least
    names = re.findall(rf"{url}/([a-z-]+)\.csv", page)
    assert names
    checked = 0
    for query in queries:
        for name in names:
            response = client.get(f"{url}/{name}.csv", query_string=query)
            assert response.status_code == 200, (query, name)
            assert "no-store" in response.headers["Cache-Control"]  # never kept by a browser
            for members in csv_members(response.text):
                assert members == 0 or members >= k, (query, name, members)
                checked += 1
    assert checked > 20


# --- random groups, and random sequences of changes between releases -----------------

PEOPLE = st.lists(
    st.tuples(
        st.sampled_from(["bilbao", "getxo", None]),
        st.sampled_from(["energy-electricity", "energy-gas", "food-produce"]),
        st.sampled_from([["local"], ["renewable"], ["organic", "local"]]),
        st.integers(1, 5),
        st.booleans(),
    ),
    min_size=3,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people=PEOPLE, k=st.integers(3, 4), dimension=st.sampled_from(["region", "category", "year"])
)
@example(  # Bilbao's page: food = the food total minus the page's other rows, on 1 member
    people=[
        ("bilbao", "energy-electricity", ["local"], 1, False),
        ("bilbao", "food-produce", ["local"], 1, False),
        *[("bilbao", "energy-electricity", ["local"], 1, False)] * 3,
        ("getxo", "energy-gas", ["local"], 1, False),
        *[("bilbao", "energy-electricity", ["local"], 1, False)] * 2,
        (None, "energy-gas", ["local"], 1, False),
        ("bilbao", "energy-electricity", ["local"], 1, False),
        (None, "energy-gas", ["local"], 1, False),
    ],
    k=3,
    dimension="region",
)
def test_random_groups_leak_nothing_to_the_attacker(db_session, make, people, k, dimension):
    group = make.group(k_anonymity=k)
    companies = [make.company(name=f"Random {n} {group.slug}") for n in range(2)]
    for region, category, values, rating, second_company in people:
        user = make.member(group)
        user.region, user.region_key = (region.title(), region) if region else (None, None)
        for slug in ("energy", "food"):
            make.consent(user, group, slug)
        make.intent(user, category=make.category(category))
        make.preference(user, category=make.category(category), values=values)
        make.feedback(
            user,
            company=companies[int(second_company)],
            category=make.category(category.split("-")[0]),
            rating=rating,
        )
    db_session.flush()
    pages, dimension_pages, outside = release_of(db_session, group, dimension)
    assert attack(equations_of(pages, dimension_pages, outside), k) == []
    # Members who chose two values count in two rows: a few of them are never told.
    two_values = Counter(
        category.split("-")[0] for _r, category, values, *_ in people if values[1:]
    )
    if any(0 < n < k for n in two_values.values()):
        values = pages[Filters()].preference_values.rows
        assert all(row.values["members"] is None for row in values)


ACTIONS = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(["intent", "region", "withdraw", "nothing"])),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS)
def test_successive_releases_differ_by_k_members_changes_at_least(db_session, make, actions):
    """Viewing after every change: a new release only once k members changed since the last,
    and after data is taken back no release is shown until then."""
    k = 3
    group = make.group(k_anonymity=k)
    members = []
    for n in range(7):
        user = make.member(group)
        make.consent(user, group, "energy")
        make.intent(user, category=make.category("energy-gas"), quantity=n + 1)
        members.append(user)
    outsider = make.member(group)  # shares nothing: their changes change nothing here
    tree = load_tree(db_session)
    state = publish_if_due(db_session, group, tree)
    assert state.number == 1
    changed, withdrawn = set(), False
    sharing = {member.id for member in members}
    for index, action in actions:
        person = members[index] if index < len(members) else outsider
        if action == "intent":
            make.intent(person, category=make.category("energy-electricity"))
        elif action == "region":
            person.region, person.region_key = "Getxo", "getxo"
        elif action == "withdraw" and person.id in sharing:
            set_consent(db_session, person, group, make.category("energy"), False)
            withdrawn = True
        db_session.flush()
        if action in ("intent", "region", "withdraw") and person.id in sharing:
            changed.add(person.id)
            if action == "withdraw":
                sharing.discard(person.id)
        before = state.number
        state = publish_if_due(db_session, group, tree)
        if state.number > before:
            assert len(changed) >= k, "a release with fewer than k members' changes"
            changed, withdrawn = set(), False
        shown = released_page(db_session, group, Filters(), state)
        assert (shown is None) == withdrawn
