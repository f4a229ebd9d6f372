"""Analytics figures: the numbers match a plain-Python count of what members consented to share."""

import math
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from sqlalchemy import select

from tecopio.accounts.models import User
from tecopio.analytics.queries import (
    Filters,
    filter_pages,
    group_figures,
    ratings_tables,
    round_to_band,
)
from tecopio.analytics.release import Suppressed, release
from tecopio.analytics.source import WHOLE
from tecopio.categories.services import load_tree
from tecopio.groups.models import Membership, MembershipStatus
from tecopio.privacy.services import set_consent

pytestmark = pytest.mark.usefixtures("app_ctx")


def banded_quartile(values, p, k):
    """Interpolated at p·(n−1), rounded to two significant digits; None without k either side."""
    ordered = sorted(values)
    position = Fraction(p) * (len(ordered) - 1)
    lower, upper = math.floor(position), math.ceil(position)
    if lower + 1 < k or len(ordered) - upper < k:
        return None
    exact = ordered[lower] + (position - lower) * (ordered[upper] - ordered[lower])
    value = Decimal(exact.numerator) / Decimal(exact.denominator)
    digits = len(str(int(value.to_integral_value(ROUND_HALF_UP))))
    return int(value.scaleb(2 - digits).to_integral_value(ROUND_HALF_UP).scaleb(digits - 2))


@pytest.fixture
def community(db_session, make):
    """A group of 8 consenting members with intents, preferences and feedback, and outsiders."""
    group = make.group(name="Bilbao Energy", k_anonymity=3, company_k=10)
    ekiluz = make.company(name="Ekiluz")
    members = []
    for n in range(8):
        user = make.member(group, display_name=f"Member {n}")
        members.append(user)
        for root in ("energy", "food"):
            set_consent(db_session, user, group, make.category(root), True)
        make.intent(
            user,
            category=make.category("energy-electricity"),
            quantity=100 * (n + 1),
            unit="kwh",
            budget_min=1000 * n,
            budget_max=1000 * n + 2000,
            window_start=date(2027, 1 + (n % 2) * 3, 1),
            window_end=date(2027, 6, 30),
        )
        make.preference(
            user,
            category=make.category("energy-electricity"),
            importance=1 + n % 5,
            values=["renewable"] + (["local"] if n < 4 else []),
        )
        make.feedback(
            user,
            company=ekiluz,
            category=make.category("energy-electricity"),
            rating=5 if n < 5 else 2,
            body="" if n % 2 else "text",
        )
    # Two more members, in solar only: a sub-category resting on fewer than k members.
    # (Nobody holds two intents: where a few do, intent counts are withheld.)
    for _ in range(2):
        user = make.member(group)
        make.consent(user, group, "energy")
        make.intent(
            user,
            category=make.category("energy-solar"),
            unit="unit",
            quantity=1,
            budget_min=500000,
            budget_max=600000,
        )
    # Not counted: an active member without consent, a pending applicant, and another group's data.
    silent = make.member(group)
    make.intent(silent, category=make.category("energy-electricity"))
    pending = make.user()
    make.membership(group, pending, status=MembershipStatus.PENDING)
    make.intent(pending)
    return group, members


def figures(db_session, group, **filters):
    return group_figures(db_session, group, Filters(**filters), load_tree(db_session), "en")


def test_demand_counts_only_consented_members(db_session, community):
    group, members = community
    demand = figures(db_session, group).demand
    assert demand.total.values["members"] == 10
    assert demand.total.values["intents"] == 10
    energy = next(r for r in demand.rows if r.key == "energy")
    electricity = next(r for r in energy.children if r.key == "energy-electricity")
    assert electricity.values["quantity"] == sum(100 * (n + 1) for n in range(8))
    assert electricity.values["unit"] == "kwh"
    mids = [(1000 * n + 1000 * n + 2000) // 2 for n in range(8)]
    values = electricity.values  # the numbers before release (it is a complement here)
    assert (
        values["budget_p25"],
        values["budget_median"],
        values["budget_p75"],
    ) == (
        banded_quartile(mids, 0.25, 3),
        banded_quartile(mids, 0.5, 3),
        banded_quartile(mids, 0.75, 3),
    )
    assert values["budget_median"] == 4_500  # between two members' 4,000 and 5,000
    assert energy.values["unit"] is None  # kWh and units mixed: no total quantity


def test_a_small_sub_category_is_suppressed_with_its_complement(db_session, community):
    group, _members = community
    energy = next(r for r in figures(db_session, group).demand.rows if r.key == "energy")
    solar = next(r for r in energy.children if r.key == "energy-solar")
    electricity = next(r for r in energy.children if r.key == "energy-electricity")
    assert solar.suppressed == Suppressed.TOO_FEW
    assert electricity.suppressed == Suppressed.COMPLEMENT
    assert electricity.value("intents") is None and energy.value("intents") == 10


def test_k_boundary_on_the_page_data(db_session, make, community):
    group, _members = community
    make.charter(group, k_anonymity=11, company_k=11)
    assert figures(db_session, group).demand.total.suppressed == Suppressed.TOO_FEW
    make.charter(group, k_anonymity=10, company_k=10)
    assert figures(db_session, group).demand.total.released


def test_withdrawn_consent_drops_out_at_once(db_session, make, community):
    group, members = community
    set_consent(db_session, members[0], group, make.category("energy"), False)
    demand = figures(db_session, group).demand
    assert demand.total.values["members"] == 9
    ratings = figures(db_session, group).ratings
    assert ratings.rows[0].values["members"] == 7


def test_windows_trends_and_ratings(db_session, make, community):
    group, members = community
    result = figures(db_session, group)
    now = date.today()
    this_quarter = f"{now.year}-Q{(now.month - 1) // 3 + 1}"
    windows = {r.key: r.values["intents"] for r in result.windows.rows}
    assert windows == {this_quarter: 2, "2027-Q1": 4, "2027-Q2": 4}
    ekiluz = result.ratings.rows[0]
    assert (ekiluz.label, ekiluz.values["count"], ekiluz.values["comments"]) == ("Ekiluz", 8, 4)
    assert ekiluz.value("average") == round((5 * 5 + 3 * 2) / 8, 2)
    assert ekiluz.value("nps") == round(100 * (5 - 3) / 8)
    assert [(b.label, b.values["count"]) for b in ekiluz.children] == [
        ("1 ★", 0),
        ("2 ★", 3),
        ("3 ★", 0),
        ("4 ★", 0),
        ("5 ★", 5),
    ]
    assert [b.released for b in ekiluz.children] == [False, True, False, False, True]
    this_month = date.today().strftime("%Y-%m")
    assert [(r.key, r.values["count"]) for r in result.trends["intents"].rows] == [(this_month, 10)]
    assert [(r.key, r.values["count"]) for r in result.trends["preferences"].rows] == [
        (this_month, 8)
    ]


def test_preference_shares_are_weighted_by_importance(db_session, community):
    group, _members = community
    result = figures(db_session, group)
    weights = [1 + n % 5 for n in range(8)]
    energy = next(r for r in result.preference_roots.rows if r.key == "energy")
    assert energy.values["weight"] == sum(weights)
    local = next(r for r in result.preference_values.rows if r.key == "energy:local")
    assert local.values["share"] == round(100 * sum(weights[:4]) / sum(weights))
    renewable = next(r for r in result.preference_values.rows if r.key == "energy:renewable")
    assert renewable.values["share"] == 100


def test_filters_narrow_every_figure(db_session, make, community):
    group, _members = community
    food_only = figures(db_session, group, root_category_id=make.category("food").id)
    assert food_only.demand.rows == [] and food_only.demand.total is None
    last_year = figures(db_session, group, year=date.today().year - 1)
    assert last_year.trends["intents"].rows == []
    this_year = figures(db_session, group, year=date.today().year)
    assert this_year.demand.total.values["intents"] == 10


def test_segments_are_deterministic_and_rest_on_k_members(db_session, make, community):
    group, members = community
    # A second kind of member: food lovers who care about organic produce.
    for _ in range(6):
        user = make.member(group)
        set_consent(db_session, user, group, make.category("food"), True)
        make.preference(
            user, category=make.category("food-produce"), importance=5, values=["organic"]
        )
    first = figures(db_session, group).segments
    second = figures(db_session, group).segments
    assert [(r.members, r.values["categories"], r.values["values"]) for r in first.rows] == [
        (r.members, r.values["categories"], r.values["values"]) for r in second.rows
    ]
    assert sum(r.members for r in first.rows) == 14
    assert 2 <= len(first.rows) <= min(4, 14 // 3)
    descriptions = [
        (r.values["categories"][0], r.values["values"][0]) for r in first.rows if r.released
    ]
    assert ("food", "organic") in descriptions  # slugs and codes; the page gives labels
    assert all(r.members >= 3 or not r.released for r in first.rows)


def test_no_segments_below_k_members(db_session, make):
    group = make.group(k_anonymity=5)
    for _ in range(4):
        user = make.member(group)
        make.consent(user, group, "energy")
        make.preference(user)
    assert figures(db_session, group).segments.rows == []


def test_budget_quartiles_count_each_member_once_and_need_k_members(db_session, make):
    group = make.group(k_anonymity=3)
    people = [make.member(group) for _ in range(12)]
    for user in people:
        make.consent(user, group, "energy")
    # One member in euros (with many intents), the others in pounds.
    for _ in range(5):
        make.intent(people[0], budget_min=100_000, budget_max=100_000)
    for user in people[1:]:
        make.intent(user, currency="GBP", budget_min=500, budget_max=700)
    demand = figures(db_session, group).demand
    assert demand.total.released
    assert demand.total.values["budget_median"] is None  # one member in euros: not shown
    for n, user in enumerate(people[1:], start=1):
        make.intent(user, budget_min=2_000 * n - 1_000, budget_max=2_000 * n + 1_000)
    demand = figures(db_session, group).demand
    # Twelve members in euros, each once (the first with the mean of five equal intents).
    mids = [100_000] + [2_000 * n for n in range(1, 12)]
    released = [demand.total.values[name] for name in ("budget_p25", "budget_median", "budget_p75")]
    assert released == [banded_quartile(mids, p, 3) for p in (0.25, 0.5, 0.75)]
    assert released == [7_500, 13_000, 19_000]  # each between two members' figures
    assert not set(released) & set(mids)


@pytest.mark.parametrize(
    "size, k, released",
    [
        # p·(n−1) must leave k members at or below and k at or above.
        (8, 3, (False, True, False)),
        (12, 3, (True, True, True)),
        (9, 5, (False, True, False)),
        (4, 3, (False, False, False)),
        (16, 5, (False, True, False)),
        (17, 5, (True, True, True)),
    ],
)
def test_quartiles_need_k_members_on_each_side(db_session, make, size, k, released):
    group = make.group(k_anonymity=k)
    for n in range(size):
        user = make.member(group)
        make.consent(user, group, "energy")
        make.intent(user, budget_min=10_000 * n, budget_max=10_000 * n + 2_000)
    values = figures(db_session, group).demand.total.values
    shown = tuple(
        values[name] is not None for name in ("budget_p25", "budget_median", "budget_p75")
    )
    assert shown == released


@pytest.mark.parametrize(
    "exact, banded",
    [
        (Fraction(99), 99),
        (Fraction(1234), 1200),
        (Fraction(1250), 1300),
        (Fraction(987654), 990000),
    ],
)
def test_quartiles_are_rounded_to_two_significant_digits(exact, banded):
    assert round_to_band(exact) == banded


def test_companies_beyond_the_list_are_one_row_that_is_checked_too(db_session, make):
    group = make.group(k_anonymity=3)
    big, small = make.company(name="Big"), make.company(name="Small")
    for n in range(4):
        user = make.member(group)
        make.consent(user, group, "energy")
        make.feedback(user, company=big, category=make.category("energy"), rating=4)
        if n == 0:
            make.feedback(user, company=small, category=make.category("energy"), rating=1)
    (table,) = ratings_tables(db_session, group.id, WHOLE, 3, listed=[big.id]).values()
    assert [r.key for r in table.rows] == [str(big.id), "other-companies"]
    release(table, 3)
    assert table.rows[-1].suppressed == Suppressed.TOO_FEW
    assert table.rows[0].suppressed == Suppressed.COMPLEMENT  # else total − Big = Small's rating


def test_averages_are_withheld_when_a_rating_is_hidden(db_session, make):
    group = make.group(k_anonymity=3)
    company = make.company(name="Mixed")
    for n in range(5):
        user = make.member(group)
        make.consent(user, group, "energy")
        make.feedback(user, company=company, category=make.category("energy"), rating=5 if n else 1)
    row = figures(db_session, group).ratings.rows[0]
    assert row.released and row.values["count"] == 5
    assert row.values["average"] is None and row.values["nps"] is None


def test_quarters_add_up_to_a_total_shown_elsewhere(db_session, make):
    group = make.group(k_anonymity=3)
    for n in range(7):
        user = make.member(group)
        make.consent(user, group, "energy")
        make.intent(
            user, window_start=date(2027, 1 if n < 5 else 4, 1), window_end=date(2027, 9, 1)
        )
    windows = figures(db_session, group).windows
    # Q2 rests on 2 members; Q1 is hidden too, else the demand total minus Q1 reveals Q2.
    assert [(r.key, r.suppressed) for r in windows.rows] == [
        ("2027-Q1", Suppressed.COMPLEMENT),
        ("2027-Q2", Suppressed.TOO_FEW),
    ]


def test_a_filter_never_shows_what_the_whole_page_hid(db_session, make):
    """Energy is hidden on the whole page to protect telecom; the energy filter must hide it too."""
    group = make.group(k_anonymity=3)
    for root, leaf, count in (
        ("energy", "energy-electricity", 10),
        ("telecom", "telecom-mobile", 2),
        ("food", "food-produce", 12),
    ):
        for _ in range(count):
            user = make.member(group)
            make.consent(user, group, root)
            make.intent(user, category=make.category(leaf))
    whole = figures(db_session, group).demand
    hidden = {r.key: r.suppressed for r in whole.rows}
    assert hidden == {"energy": Suppressed.COMPLEMENT, "telecom": Suppressed.TOO_FEW, "food": None}
    energy_only = figures(db_session, group, root_category_id=make.category("energy").id).demand
    assert [(r.key, r.released) for r in energy_only.rows] == [("energy", False)]


def _sharing_energy(make, group, count, region=None, **intent):
    users = []
    for _ in range(count):
        user = make.member(group)
        if region:
            user.region, user.region_key = region.title(), region
        make.consent(user, group, "energy")
        make.intent(user, category=make.category("energy-electricity"), **intent)
        users.append(user)
    return users


def test_regions_cannot_be_subtracted_from_the_whole_page_together(db_session, make):
    """Three regions of three and one member without a region: whole − all three = that member.

    Each region checked alone against the whole page leaves seven members out,
    so each would be shown; released together, one region hides energy.
    """
    group = make.group(k_anonymity=3)
    for region in ("bilbao", "getxo", "leioa"):
        _sharing_energy(make, group, 3, region)
    _sharing_energy(make, group, 1)
    db_session.flush()
    assert figures(db_session, group).demand.total.members == 10
    pages = filter_pages(
        db_session, group, Filters(region_key="bilbao"), load_tree(db_session), "en"
    )
    regions = {Filters(region_key=r) for r in ("bilbao", "getxo", "leioa")}
    assert set(pages) == {Filters(), *regions}
    del pages[Filters()]
    shown = [page.demand.total for page in pages.values() if page.demand.total.released]
    assert len(shown) == 2  # whole − the two shown = the hidden region and the member without one
    hidden = [page for page in pages.values() if not page.demand.total.released]
    assert hidden[0].demand.total.suppressed == Suppressed.COMPLEMENT
    assert all(row.released is False for row in hidden[0].demand.all_rows())
    # Group by group, each page agrees with what the one-filter call returns.
    for page, released in pages.items():
        again = figures(db_session, group, region_key=page.region_key)
        assert again.demand.total.released == released.demand.total.released


def test_regions_without_anyone_outside_them_are_all_shown(db_session, make):
    group = make.group(k_anonymity=3)
    for region in ("bilbao", "getxo"):
        _sharing_energy(make, group, 3, region)
    db_session.flush()
    pages = filter_pages(
        db_session, group, Filters(region_key="getxo"), load_tree(db_session), "en"
    )
    released = [page.demand.total.members for page in pages.values() if page.demand.total.released]
    assert released == [6, 3, 3]  # the whole page, Bilbao, Getxo


def test_a_category_hidden_on_its_page_is_not_recovered_from_the_others(db_session, make):
    """This month: energy 4 members, telecom 2, food 5 → whole − energy − food = telecom."""
    group = make.group(k_anonymity=3)
    for root, leaf, count in (
        ("energy", "energy-electricity", 4),
        ("telecom", "telecom-mobile", 2),
        ("food", "food-produce", 5),
    ):
        for _ in range(count):
            user = make.member(group)
            make.consent(user, group, root)
            make.intent(user, category=make.category(leaf))
    db_session.flush()
    tree = load_tree(db_session)
    whole = figures(db_session, group).trends["intents"]
    (month,) = whole.rows
    assert month.released and month.members == 11
    pages = filter_pages(
        db_session, group, Filters(root_category_id=make.category("food").id), tree, "en"
    )
    cells = {
        tree.by_id[page.root_category_id].slug: figures.trends["intents"].rows
        for page, figures in pages.items()
        if page.active
    }
    assert cells["telecom"][0].suppressed == Suppressed.TOO_FEW
    assert cells["energy"][0].suppressed == Suppressed.COMPLEMENT  # the smaller one
    assert cells["food"][0].released
    assert all(
        rows == [] for slug, rows in cells.items() if slug not in {"energy", "telecom", "food"}
    )


def test_years_before_the_offered_ones_are_not_recovered(db_session, make):
    """Whole − every offered year = what was recorded earlier, here by one member."""
    group = make.group(k_anonymity=3)
    this_year = date.today().year
    _sharing_energy(make, group, 4)
    _sharing_energy(make, group, 1, created_at=datetime(this_year - 7, 3, 1, tzinfo=UTC))
    db_session.flush()
    whole = figures(db_session, group)
    assert whole.demand.total.members == 5 and whole.demand.total.released
    this = figures(db_session, group, year=this_year)
    assert this.demand.total.members == 4
    assert this.demand.total.suppressed == Suppressed.COMPLEMENT


def test_the_pages_of_a_filter_add_up_to_the_whole_page(db_session, make, community):
    """Computed in one pass, every region's and category's page still counts exactly its rows."""
    group, _members = community
    everyone = db_session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.group_id == group.id)
    ).all()
    for n, member in enumerate(everyone):
        member.region, member.region_key = ("Bilbao", "bilbao") if n % 2 else ("Getxo", "getxo")
    db_session.flush()
    tree = load_tree(db_session)
    whole = figures(db_session, group)

    def counts(table):
        rows = [*table.all_rows(), *([table.total] if table.total else [])]
        return {
            row.key: (row.values.get("intents") or row.values.get("count") or 0) for row in rows
        }

    for chosen in (Filters(region_key="bilbao"), Filters(root_category_id=tree.roots[0].id)):
        pages = filter_pages(db_session, group, chosen, tree, "en")
        del pages[Filters()]
        for index, whole_table in enumerate(whole.comparable()):
            if whole_table.name in {"brands", "preference_values"}:
                continue  # a preference names several values and companies: not additive
            added = {}
            for page in pages.values():
                for key, value in counts(page.comparable()[index]).items():
                    added[key] = added.get(key, 0) + value
            expected = {key: value for key, value in counts(whole_table).items() if value}
            assert {key: value for key, value in added.items() if value} == expected, (
                chosen,
                whole_table.name,
            )


@pytest.mark.parametrize(
    "in_two_quarters, shown",
    # With three in both quarters, 8 − 6 = 2 members are left out of the first: withheld too.
    [(0, True), (1, False), (2, False), (3, False)],
)
def test_member_counts_are_withheld_where_a_few_members_are_in_two_rows(
    db_session, make, in_two_quarters, shown
):
    """The probe's case: quarters of 7 and 10 members beside a total of 16 told of one
    member with intents in both; that number must rest on k members or none."""
    group = make.group(k_anonymity=3)
    for n in range(8):
        user = make.member(group)
        make.consent(user, group, "energy")
        first = date(2027, 1, 1) if n % 2 else date(2027, 4, 1)
        end = date(2027, 6, 30)
        make.intent(user, category=make.category("energy-gas"), window_start=first, window_end=end)
        if n < in_two_quarters:
            other = date(2027, 4, 1) if n % 2 else date(2027, 1, 1)
            make.intent(
                user, category=make.category("energy-gas"), window_start=other, window_end=end
            )
    windows = figures(db_session, group).windows
    assert all(row.released for row in windows.rows)
    assert all((row.values["members"] is not None) is shown for row in windows.rows)
    # Those members also hold two intents each: where 1..k−1 do, intent counts go too.
    items_shown = in_two_quarters == 0 or in_two_quarters >= 3
    assert all((row.values["intents"] is not None) is items_shown for row in windows.rows)


def test_member_counts_overlapping_from_page_to_page_are_withheld_on_the_pages(db_session, make):
    """A member with data in two categories is on both category pages: 1..k−1 such members
    would be told by the pages' members minus the whole page's."""
    group = make.group(k_anonymity=3)
    for n in range(6):
        user = make.member(group)
        make.consent(user, group, "energy")
        make.consent(user, group, "food")
        make.intent(user, category=make.category("energy-gas" if n < 3 else "food-produce"))
        if n == 0:
            make.intent(user, category=make.category("food-produce"))
    tree = load_tree(db_session)
    pages = filter_pages(
        db_session, group, Filters(root_category_id=tree.by_slug["energy"].id), tree, "en"
    )
    whole = pages[Filters()]
    assert whole.demand.total.values["members"] == 6
    for filters, page in pages.items():
        if filters.active and page.demand.rows:
            assert all(row.values["members"] is None for row in page.demand.rows)


def test_member_counts_are_withheld_where_a_row_leaves_a_few_members_out(db_session, make):
    """The probe's case: "16 with preferences, 14 chose Renewable" told that 2 did not."""
    group = make.group(k_anonymity=3)
    for n in range(7):
        user = make.member(group)
        make.consent(user, group, "energy")
        values = ["local", "renewable"] if n < 6 else ["local"]  # one member leaves it out
        make.preference(user, category=make.category("energy-gas"), values=values)
    values = figures(db_session, group).preference_values.rows
    assert {row.key for row in values if row.released} == {"energy:local", "energy:renewable"}
    assert all(row.values["members"] is None for row in values)
    assert all(row.values["share"] is not None for row in values)  # the shares stay


@pytest.mark.parametrize("holding_two, shown", [(0, True), (1, False), (2, False), (3, True)])
def test_item_counts_are_withheld_where_a_few_members_hold_two(
    db_session, make, holding_two, shown
):
    """The probe's case: "16 members, 17 intents" told of one member with two."""
    group = make.group(k_anonymity=3)
    for n in range(8):
        user = make.member(group)
        make.consent(user, group, "energy")
        for _ in range(2 if n < holding_two else 1):
            make.intent(user, category=make.category("energy-gas"))
    result = figures(db_session, group)
    for table in (result.demand, result.windows):
        counted = [*table.all_rows(), *([table.total] if table.total else [])]
        assert all((row.values["intents"] is not None) is shown for row in counted if row.released)
    assert all((row.values["count"] is not None) is shown for row in result.trends["intents"].rows)
