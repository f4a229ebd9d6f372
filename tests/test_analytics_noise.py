"""Calibrated noise: the exact discrete Laplace sampler, and noise on the page when a group asks."""

import math
from collections import Counter
from fractions import Fraction

import pytest

from tecopio.analytics.noise import add_noise, discrete_laplace
from tecopio.analytics.release import Row, Suppressed, Table
from tests.factories import PASSWORD
from tests.test_analytics_http import build_group, page_table


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


def test_noise_touches_released_counts_only():
    hidden = Row("a", "a", members=2, values={"members": 2}, suppressed=Suppressed.TOO_FEW)
    shown = Row("b", "b", members=500, values={"members": 500, "average": 3.5})
    table = Table("t", [hidden, shown])
    for _ in range(20):
        add_noise([table], Fraction(1, 100))
    assert hidden.values == {"members": 2}
    assert shown.values["average"] == 3.5
    assert shown.values["members"] != 500


def test_the_page_says_when_noise_is_on_and_counts_the_budget(client, make, db_session):
    group, admin, _members = build_group(make, 12)
    client.submit("/login", {"email": admin.email, "password": PASSWORD})
    exact = page_table(client.get(f"/groups/{group.slug}/analytics").text, "demand")
    assert "calibrated random noise" not in client.get(f"/groups/{group.slug}/analytics").text
    assert group.privacy_budget_spent_milli == 0

    group.noise_epsilon_milli = 100  # epsilon 0.1: a lot of noise
    db_session.commit()
    seen = set()
    for _ in range(5):
        html = client.get(f"/groups/{group.slug}/analytics").text
        seen.add(tuple(page_table(html, "demand")[1]))
    assert "calibrated random noise" in html and "epsilon 0.1" in html
    assert any(row != tuple(exact[1]) for row in seen)
    db_session.refresh(group)
    assert group.privacy_budget_spent_milli > 0
    assert (
        f"spent so far: {group.privacy_budget_spent_milli / 1000 - 0.0}" in html
        or "spent so far" in html
    )


def test_admins_turn_noise_on_with_an_epsilon_in_range(client, make, db_session):
    group, admin, _members = build_group(make, 3)
    client.submit("/login", {"email": admin.email, "password": PASSWORD})
    data = {
        "name": group.name,
        "description": "",
        "region": "",
        "membership_policy": "open",
        "k_anonymity": "5",
        "company_k": "10",
        "noise": "y",
    }
    for epsilon in ("0.05", "11", "abc"):
        response = client.submit(f"/groups/{group.slug}/edit", {**data, "epsilon": epsilon})
        assert response.status_code == 400
    assert group.noise_epsilon_milli is None
    assert (
        client.submit(f"/groups/{group.slug}/edit", {**data, "epsilon": "0.5"}).status_code == 302
    )
    assert group.noise_epsilon_milli == 500
    data.pop("noise")
    assert (
        client.submit(f"/groups/{group.slug}/edit", {**data, "epsilon": "0.5"}).status_code == 302
    )
    assert group.noise_epsilon_milli is None
