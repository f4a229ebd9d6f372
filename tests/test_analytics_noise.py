"""Calibrated noise: the exact discrete Laplace sampler, and noise on the page when a group asks."""

import math
from collections import Counter
from fractions import Fraction

import pytest

from tecopio.analytics.noise import add_noise, discrete_laplace
from tecopio.analytics.queries import Filters, group_figures
from tecopio.analytics.release import Row, Suppressed, Table
from tecopio.categories.services import load_tree
from tecopio.governance.charters import current_charter
from tests.factories import PASSWORD
from tests.test_analytics_http import build_group, page_table
from tests.test_governance import charter_form_data


def test_the_sampler_follows_the_discrete_laplace_distribution():
    epsilon = Fraction(1)
    samples = [discrete_laplace(epsilon) for _ in range(10_000)]
    assert all(isinstance(x, int) for x in samples)
    p = math.exp(-1)
    counts = Counter(samples)
    assert abs(sum(samples) / len(samples)) < 0.1
    assert abs(counts[0] / len(samples) - (1 - p) / (1 + p)) < 0.03
    expected_one = (1 - p) / (1 + p) * p
    assert abs(counts[1] / len(samples) - expected_one) < 0.02
    assert abs(counts[-1] / len(samples) - expected_one) < 0.02


def test_smaller_epsilon_means_more_noise():
    def spread(epsilon):
        return sum(abs(discrete_laplace(epsilon)) for _ in range(3000)) / 3000

    assert spread(Fraction(1, 10)) > 3 * spread(Fraction(2))


@pytest.mark.parametrize("epsilon", [Fraction(0), Fraction(-1)])
def test_epsilon_must_be_positive(epsilon):
    with pytest.raises(ValueError):
        discrete_laplace(epsilon)


def test_noise_goes_on_counts_of_members_and_other_numbers_are_withheld():
    hidden = Row("a", "a", members=2, values={"members": 2}, suppressed=Suppressed.TOO_FEW)
    shown = Row("b", "b", members=500, values={"members": 500, "count": 900, "average": 3.5})
    star = Row("b:5", "5", members=400, values={"members": 400, "count": 700, "rating": 5})
    shown.children = [star]
    table = Table("t", [hidden, shown])
    noisy = [add_noise([table], Fraction(1, 100)) for _ in range(20)]
    assert noisy == [2] * 20  # one noisy count per released row, each time
    assert hidden.values == {"members": 2}
    assert shown.values["average"] is None and shown.values["count"] is None
    assert star.values["count"] is None and star.values["rating"] == 5  # a label, not a count
    assert shown.values["members"] != 500


def test_the_page_says_when_noise_is_on_and_counts_the_budget(client, make, db_session):
    group, admin, _members = build_group(make, 12)
    client.submit("/login", {"email": admin.email, "password": PASSWORD})
    exact = page_table(client.get(f"/groups/{group.slug}/analytics").text, "demand")
    assert "calibrated random noise" not in client.get(f"/groups/{group.slug}/analytics").text
    assert group.privacy_budget_spent_milli == 0

    make.charter(group, noise_epsilon_milli=100)
    db_session.commit()
    seen = set()
    for n in range(5):
        # A new release each time k (3) members change what they share.
        for member in _members[3 * n % 12 : 3 * n % 12 + 3]:
            make.intent(member, category=make.category("energy-gas"))
        db_session.commit()
        html = client.get(f"/groups/{group.slug}/analytics").text
        assert f"Release {n + 2}" in html
        seen.add(tuple(page_table(html, "demand")[1]))
    assert "calibrated random noise" in html and "per count" in html
    assert any(row[1] != exact[1][1] for row in seen)  # members, with noise
    assert all(row[2:] == ("", "—", "", "", "") for row in seen)  # intents, quantity, budgets
    db_session.refresh(group)
    assert group.privacy_budget_spent_milli > 0
    assert (
        f"spent so far: {group.privacy_budget_spent_milli / 1000 - 0.0}" in html
        or "spent so far" in html
    )


def test_admins_turn_noise_on_with_an_epsilon_in_range(client, make, db_session):
    group, admin, _members = build_group(make, 3)
    client.submit("/login", {"email": admin.email, "password": PASSWORD})
    url = f"/groups/{group.slug}/charter/edit"
    data = charter_form_data(current_charter(db_session, group), privacy__noise="y")
    for epsilon in ("0.05", "11", "abc", "0.0001"):
        response = client.submit(url, {**data, "privacy__noise_epsilon_milli": epsilon})
        assert response.status_code == 400
    assert current_charter(db_session, group).noise_epsilon_milli is None
    response = client.submit(url, {**data, "privacy__noise_epsilon_milli": "0,5"})
    assert response.status_code == 302
    assert current_charter(db_session, group).noise_epsilon_milli == 500
    data = charter_form_data(current_charter(db_session, group))  # the form as shown now
    data.pop("privacy__noise")
    assert client.submit(url, data).status_code == 302
    assert current_charter(db_session, group).noise_epsilon_milli is None


@pytest.mark.usefixtures("app_ctx")
def test_the_budget_counts_epsilon_for_every_noisy_count(db_session, make):
    group, _admin, _members = build_group(make, 12)
    make.charter(group, noise_epsilon_milli=250)
    figures = group_figures(db_session, group, Filters(), load_tree(db_session), "en")
    noisy = sum(
        isinstance(row.values.get("members"), int)
        for table in figures.tables()
        for row in [*table.all_rows(), *([table.total] if table.total else [])]
        if row.released
    )
    assert noisy > 10
    assert group.privacy_budget_spent_milli == 250 * noisy
