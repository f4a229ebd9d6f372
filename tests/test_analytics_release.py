"""k-anonymity: primary and complementary suppression, tested by table and by an attacker."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tecopio.analytics.release import Row, Suppressed, Table, recovered, release


def row(key, members, value=None, children=()):
    return Row(
        key=key,
        label=key,
        members=members,
        values={"n": value if value is not None else members},
        children=list(children),
    )


@pytest.mark.parametrize(
    "members, k, released",
    [(4, 5, False), (5, 5, True), (2, 3, False), (3, 3, True), (0, 3, False), (100, 10, True)],
)
def test_the_k_boundary(members, k, released):
    table = release(Table("t", [row("a", members)]), k)
    assert table.rows[0].released is released
    assert (table.rows[0].value("n") is None) is (not released)
    if not released:
        assert table.rows[0].suppressed == Suppressed.TOO_FEW


def test_one_small_row_under_a_total_takes_the_smallest_other_row_with_it():
    rows = [row("a", 2), row("b", 7), row("c", 9)]
    table = release(Table("t", rows, total=row("total", 18)), 5)
    assert [r.suppressed for r in rows] == [Suppressed.TOO_FEW, Suppressed.COMPLEMENT, None]
    assert table.total.released


def test_two_small_rows_together_below_k_still_need_a_third():
    rows = [row("a", 1), row("b", 2), row("c", 6), row("d", 8)]
    release(Table("t", rows, total=row("total", 17)), 5)
    assert [r.released for r in rows] == [False, False, False, True]


def test_without_a_released_total_nothing_more_is_hidden():
    rows = [row("a", 2), row("b", 7)]
    release(Table("t", rows), 5)
    assert [r.released for r in rows] == [False, True]


def test_sums_released_elsewhere_count_as_a_total():
    rows = [row("2026-01", 2), row("2026-02", 7), row("2026-03", 8)]
    release(Table("t", rows, sums_released_elsewhere=True), 5)
    assert [r.released for r in rows] == [False, False, True]


def test_a_complement_with_children_hides_one_of_them_too():
    energy = row("energy", 30, children=[row("solar", 2), row("gas", 12), row("power", 16)])
    telecom = row("telecom", 3)
    food = row("food", 40)
    release(Table("t", [energy, telecom, food], total=row("total", 73)), 5)
    assert telecom.suppressed == Suppressed.TOO_FEW
    assert energy.suppressed == Suppressed.COMPLEMENT
    solar, gas, power = energy.children
    assert solar.suppressed == Suppressed.TOO_FEW
    assert gas.suppressed == Suppressed.COMPLEMENT
    assert power.released and food.released


def test_a_total_below_k_hides_everything():
    rows = [row("a", 1), row("b", 2)]
    table = release(Table("t", rows, total=row("total", 3)), 5)
    assert not table.total.released
    assert not any(r.released for r in rows)


# --- an attacker who knows every released number and how they add up ---------------


@st.composite
def tables(draw):
    """Random two-level tables whose numbers really add up, with real member sets."""
    pool = list(range(40))

    def members():
        return frozenset(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=14)))

    top = []
    for t in range(draw(st.integers(1, 5))):
        children = []
        for c in range(draw(st.integers(0, 4))):
            people = members()
            children.append((f"{t}.{c}", people, draw(st.integers(0, 50)) + len(people)))
        if children:
            people = frozenset().union(*(p for _, p, _ in children))
            top.append((str(t), people, sum(v for _, _, v in children), children))
        else:
            people = members()
            top.append((str(t), people, draw(st.integers(0, 50)) + len(people), []))
    with_total = draw(st.booleans())
    return top, with_total, draw(st.integers(2, 6))


def build(top, with_total):
    sets = {}

    def make(key, people, value, children=()):
        r = Row(
            key=key, label=key, members=len(people), values={"n": value}, children=list(children)
        )
        sets[key] = people
        return r

    rows = [make(k, p, v, [make(ck, cp, cv) for ck, cp, cv in ch]) for k, p, v, ch in top]
    total = None
    if with_total:
        everyone = frozenset().union(*(p for _, p, _, _ in top))
        total = make("total", everyone, sum(v for _, _, v, _ in top))
    return Table("t", rows, total=total), sets


def attack(table, sets, k):
    """Solve every adding-up equation that has one unknown; report what leaks."""
    equations = [(r, r.children) for r in table.all_rows() if r.children]
    if table.total is not None:
        equations.append((table.total, table.rows))
    known = {
        r.key for r in [*table.all_rows(), *([table.total] if table.total else [])] if r.released
    }
    progress = True
    while progress:
        progress = False
        for whole, parts in equations:
            unknown = [r for r in [whole, *parts] if r.key not in known]
            if len(unknown) == 1:
                known.add(unknown[0].key)
                progress = True
    leaks = []
    for r in [*table.all_rows(), *([table.total] if table.total else [])]:
        if r.key in known and len(sets[r.key]) < k:
            leaks.append(("row", r.key))
    for whole, parts in equations:
        hidden_parts = [r for r in parts if r.key not in known]
        if whole.key in known and hidden_parts:
            people = frozenset().union(*(sets[r.key] for r in hidden_parts))
            if len(people) < k:
                leaks.append(("sum", tuple(r.key for r in hidden_parts)))
    return leaks


@settings(max_examples=400, deadline=None)
@given(tables())
def test_no_suppressed_number_can_be_recovered_by_subtraction(generated):
    top, with_total, k = generated
    table, sets = build(top, with_total)
    release(table, k)
    assert attack(table, sets, k) == []


def test_the_attacker_finds_what_primary_suppression_alone_leaves_open():
    """The attack is real: without complementary suppression it recovers a small row."""
    top = [("a", frozenset({1, 2}), 2, []), ("b", frozenset(range(3, 10)), 7, [])]
    table, sets = build(top, with_total=True)
    table.rows[0].suppressed = Suppressed.TOO_FEW
    assert attack(table, sets, 5) == [("row", "a")]
    table, sets = build(top, with_total=True)
    release(table, 5)
    assert attack(table, sets, 5) == []


# --- totals, lone rows and rows worked out elsewhere ----------------------------------


def test_a_hidden_total_takes_its_only_row_with_it():
    """Issue case 2: "All categories" hidden, but equal to its one released row."""
    rows = [row("energy", 6)]
    table = Table("t", rows, total=row("total", 6))
    table.total.suppressed = Suppressed.COMPLEMENT  # hidden to protect another page
    release(table, 5)
    assert not rows[0].released


def test_a_hidden_total_takes_one_of_several_released_rows_with_it():
    rows = [row("a", 6), row("b", 9)]
    table = Table("t", rows, total=row("total", 15))
    table.total.suppressed = Suppressed.COMPLEMENT
    release(table, 5)
    assert [r.released for r in rows] == [False, True]


def test_a_lone_child_hidden_as_a_complement_takes_its_parent_with_it():
    child = row("electricity", 7)
    child.suppressed = Suppressed.COMPLEMENT
    parent = row("energy", 7, children=[child])
    release(Table("t", [parent, row("food", 8)]), 5)
    assert not parent.released


def test_rows_worked_out_elsewhere_are_never_chosen_and_the_total_goes_instead():
    small, known = row("energy", 1), row("food", 3)
    known.pinned = True
    table = Table("t", [small, known], total=row("total", 4))
    release(table, 3)
    assert not small.released and known.released and not table.total.released


def test_siblings_all_hidden_rest_on_their_parent_and_need_nothing_more():
    stars = [row(f"{n}", 1) for n in range(5)]
    company = row("company", 5, children=stars)
    release(Table("t", [company]), 5)
    assert company.released and not any(star.released for star in stars)


def test_a_row_the_previous_release_showed_unmoved_is_never_the_complement():
    """Its value is known from that release: hiding it now would protect nothing."""
    small, shown_then, new = row("a", 2), row("b", 7), row("c", 9)
    shown_then.shown_before, shown_then.changed = True, 0
    table = release(Table("t", [small, shown_then, new], total=row("total", 18)), 5)
    assert [r.suppressed for r in table.rows] == [Suppressed.TOO_FEW, None, Suppressed.COMPLEMENT]


def test_a_hidden_row_known_from_the_previous_release_protects_nothing():
    small, known, other = row("a", 2), row("b", 7), row("c", 9)
    known.shown_before, known.changed = True, 0
    known.suppressed = Suppressed.COMPLEMENT  # hidden now, for another figure's sake
    release(Table("t", [small, known, other], total=row("total", 18)), 5)
    assert other.suppressed == Suppressed.COMPLEMENT  # the sum a + c rests on 11 members


def test_a_row_that_moved_since_the_previous_release_may_still_be_the_complement():
    small, moved = row("a", 2), row("b", 7)
    moved.shown_before, moved.changed = True, 6
    release(Table("t", [small, moved, row("c", 9)], total=row("total", 18)), 5)
    assert moved.suppressed == Suppressed.COMPLEMENT


# --- hidden rows that their children add back up ---------------------------------------


def test_a_complement_its_children_add_back_up_protects_no_row_beside_it():
    """Energy is hidden, but its only child is worked out from the whole page: energy is
    known, and the total minus energy would give food (one member) back."""
    electricity = row("electricity", 7)
    electricity.pinned = True
    energy = row("energy", 7, children=[electricity])
    energy.suppressed = Suppressed.COMPLEMENT  # hidden to protect another page
    food = row("food", 1)
    table = release(Table("t", [food, energy], total=row("total", 8)), 3)
    assert recovered(energy)
    assert not table.total.released  # nothing else is left to hide beside food
    sets = {
        "food": frozenset({1}),
        "energy": frozenset(range(2, 9)),
        "total": frozenset(range(1, 9)),
    }
    sets["electricity"] = sets["energy"]
    assert attack(table, sets, 3) == []


def test_a_hidden_row_its_children_tell_makes_another_sibling_the_complement():
    known = row("gas", 7)
    known.shown_before, known.changed = True, 0  # told by the previous release, unmoved
    energy = row("energy", 7, children=[known])
    energy.suppressed = Suppressed.COMPLEMENT
    food, water = row("food", 1), row("water", 5)
    table = release(Table("t", [food, energy, water], total=row("total", 13)), 3)
    assert [r.suppressed for r in table.rows] == [
        Suppressed.TOO_FEW,
        Suppressed.COMPLEMENT,
        Suppressed.COMPLEMENT,
    ]
    assert table.total.released
