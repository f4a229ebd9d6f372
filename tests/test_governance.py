"""The charter: its schema, its versions, the only ways it changes, and features obeying it."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tecopio.analytics.queries import Filters, group_figures
from tecopio.audit.models import AuditEvent
from tecopio.categories.services import load_tree
from tecopio.db import utcnow
from tecopio.governance import charters as services
from tecopio.governance import decisions
from tecopio.governance.charter import (
    ALL_CATEGORIES,
    RULES,
    CharterError,
    defaults,
    diff,
    flatten,
    validate,
)
from tecopio.governance.forms import field_name
from tecopio.governance.models import Adoption, CharterVersion
from tecopio.groups import services as groups
from tecopio.groups.models import MembershipPolicy, MembershipStatus
from tests.factories import PASSWORD

SLUGS = frozenset({"energy", "food", "telecom"})


def charter_form_data(charter, **changes) -> dict:
    """The charter form as a browser sends it, filled with ``charter`` then ``changes``."""
    data = {}
    for rule in RULES:
        value = charter[rule.path]
        name = field_name(rule)
        if rule.kind == "bool":
            if value:
                data[name] = "y"
        elif rule.kind == "categories":
            if value != ALL_CATEGORIES:
                data[name] = list(value)
        elif rule.scale != 1:
            data[name] = f"{value / rule.scale:g}"
        else:
            data[name] = str(value)
    data["based_on"] = str(charter.number)
    data.update(changes)
    return data


# --- the schema ---------------------------------------------------------------------


def test_defaults_are_a_valid_charter_and_survive_the_round_trip():
    charter = defaults()
    assert charter.k_anonymity == 5 and charter.company_k == 10
    assert charter.noise_epsilon_milli is None and charter.membership_policy == "approval"
    assert validate(flatten(charter.document()), SLUGS) == charter


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("privacy.k_anonymity", 2, "from 3 to 1000"),
        ("privacy.k_anonymity", "5", "whole number"),
        ("privacy.k_anonymity", True, "whole number"),
        ("privacy.company_k", 4, "not be below"),
        ("revenue.reserve_percent", 101, "from 0 to 100"),
        ("revenue.reserve_percent", -1, "from 0 to 100"),
        ("privacy.categories", ["energy", "weapons"], "Unknown category: weapons"),
        ("privacy.categories", [], "at least one category"),
        ("privacy.categories", "energy", "at least one category"),
        ("privacy.noise", "yes", "yes or no"),
        ("privacy.noise_epsilon_milli", 50, "from 0.1 to 10"),
        ("membership.policy", "secret", "Not one of the choices"),
        ("decisions.voting_days", 0, "from 1 to 60"),
        ("decisions.pass_percent", 100, "from 0 to 99"),
        ("decisions.quorum", 20, "Not a rule"),
    ],
)
def test_invalid_values_are_refused_with_a_message_per_rule(path, value, message):
    with pytest.raises(CharterError) as refused:
        validate({path: value}, SLUGS)
    assert path in refused.value.errors
    assert message in refused.value.errors[path]


def test_categories_are_kept_sorted_and_once():
    charter = validate({"privacy.categories": ["food", "energy", "food"]}, SLUGS)
    assert charter["privacy.categories"] == ("energy", "food")
    assert charter.allows_category("food") and not charter.allows_category("telecom")


def test_diff_lists_the_changed_rules_in_the_tables_order():
    old = defaults()
    new = validate({**old.values, "privacy.k_anonymity": 7, "membership.policy": "open"}, SLUGS)
    assert [(rule.path, before, after) for rule, before, after in diff(old, new)] == [
        ("privacy.k_anonymity", 5, 7),
        ("membership.policy", "approval", "open"),
    ]
    assert diff(new, new) == []


# --- versions -----------------------------------------------------------------------


@pytest.mark.usefixtures("app_ctx")
def test_a_new_group_founds_version_one_with_its_joining_rule(db_session, make):
    founder = make.user()
    group = groups.create_group(
        db_session, founder, name="Charter Co-op", description="", region="", policy="invitation"
    )
    (version,) = services.history(db_session, group)
    assert (version.number, version.adoption, version.adopted_by) == (1, Adoption.FOUNDING, founder)
    assert services.current_charter(db_session, group).membership_policy == "invitation"


@pytest.mark.usefixtures("app_ctx")
def test_admins_change_the_charter_where_it_allows_and_it_is_recorded(db_session, make):
    admin = make.user()
    group = make.group(admin=admin)
    version = services.change_by_admin(
        db_session, admin, group, {"privacy.k_anonymity": 7}, reason="More caution."
    )
    assert (version.number, version.adoption, version.reason) == (
        2,
        Adoption.ADMINS,
        "More caution.",
    )
    assert services.current_charter(db_session, group).k_anonymity == 7
    event = db_session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "charter.adopted")
        .order_by(AuditEvent.id.desc())
    )
    assert event.details == {"number": 2, "adoption": "admins", "changed": ["privacy.k_anonymity"]}


@pytest.mark.usefixtures("app_ctx")
@pytest.mark.parametrize(
    "changes, error",
    [
        ({"privacy.k_anonymity": 2}, services.InvalidCharter),
        ({"revenue.reserve_percent": 150}, services.InvalidCharter),
        ({"privacy.categories": ["energy", "no-such-thing"]}, services.InvalidCharter),
        ({}, services.NothingChanged),
    ],
)
def test_invalid_changes_write_no_version(db_session, make, changes, error):
    admin = make.user()
    group = make.group(admin=admin)
    with pytest.raises(error):
        services.change_by_admin(db_session, admin, group, changes)
    assert services.version_count(db_session, group) == 1


@pytest.mark.usefixtures("app_ctx")
def test_a_charter_that_wants_a_vote_refuses_admins(db_session, make):
    admin = make.user()
    group = make.group(admin=admin, decisions__charter_changes="vote")
    with pytest.raises(services.VoteRequired):
        services.change_by_admin(db_session, admin, group, {"privacy.k_anonymity": 7})
    assert services.current_charter(db_session, group).k_anonymity == 5


# --- every feature reads the charter in force ---------------------------------------


@pytest.mark.usefixtures("app_ctx")
def test_joining_follows_the_charter_in_force(db_session, make):
    group = make.group(membership_policy=MembershipPolicy.OPEN)
    first = groups.join_group(db_session, make.user(), group)
    assert first.status == MembershipStatus.ACTIVE
    make.charter(group, membership_policy=MembershipPolicy.APPROVAL)
    second = groups.join_group(db_session, make.user(), group)
    assert second.status == MembershipStatus.PENDING
    make.charter(group, membership_policy=MembershipPolicy.INVITATION)
    with pytest.raises(groups.InvitationRequired):
        groups.join_group(db_session, make.user(), group)


@pytest.mark.usefixtures("app_ctx")
def test_analytics_use_the_new_k_and_categories_right_after_a_change(db_session, make):
    group = make.group(k_anonymity=3)
    for _ in range(4):
        member = make.member(group)
        for root, leaf in (("energy", "energy-electricity"), ("food", "food-produce")):
            make.consent(member, group, root)
            make.intent(member, category=make.category(leaf))
    tree = load_tree(db_session)

    def demand():
        return group_figures(db_session, group, Filters(), tree, "en").demand

    assert [(row.key, row.released) for row in demand().rows] == [
        ("energy", True),
        ("food", True),
    ]
    make.charter(group, k_anonymity=5)
    assert not demand().total.released
    make.charter(group, k_anonymity=3, privacy__categories=["energy"])
    assert [row.key for row in demand().rows] == ["energy"]
    assert demand().total.values["intents"] == 4


# --- pages --------------------------------------------------------------------------


def login(client, user):
    client.submit("/login", {"email": user.email, "password": PASSWORD})


@pytest.mark.parametrize("role, status", [("outsider", 403), ("applicant", 403), ("member", 200)])
def test_the_charter_page_is_for_members(client, make, role, status):
    group = make.group()
    user = make.user()
    if role == "applicant":
        make.membership(group, user, status=MembershipStatus.PENDING)
    elif role == "member":
        make.membership(group, user)
    login(client, user)
    assert client.get(f"/groups/{group.slug}/charter").status_code == status
    assert client.get(f"/groups/{group.slug}/charter/edit").status_code == 403


def test_an_admin_changes_the_rules_and_the_history_and_diff_show_it(client, make, db_session):
    admin = make.user(display_name="Ane Admin")
    group = make.group(admin=admin)
    login(client, admin)
    data = charter_form_data(
        services.current_charter(db_session, group),
        privacy__k_anonymity="7",
        revenue__split="contribution",
        reason="Agreed at the assembly.",
    )
    response = client.submit(f"/groups/{group.slug}/charter/edit", data)
    assert response.status_code == 302
    html = client.get(f"/groups/{group.slug}/charter").text
    assert "version 2" in html and "7 members" in html and "by contribution points" in html
    assert "Agreed at the assembly." in html and "Ane Admin" in html
    compare = client.get(f"/groups/{group.slug}/charter/diff", query_string={"from": 1, "to": 2})
    assert compare.status_code == 200
    assert "Fewest members behind any figure members see" in compare.text
    assert "5 members" in compare.text and "7 members" in compare.text
    assert "Who may join" not in compare.text  # unchanged rules are not listed


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"privacy__k_anonymity": "2"}, "Enter a number from 3 to 1000."),
        ({"privacy__k_anonymity": "many"}, "Not a valid integer value."),
        ({"revenue__reserve_percent": "101"}, "Enter a number from 0 to 100."),
        ({"privacy__company_k": "4"}, "must not be below"),
        ({"privacy__categories": ["energy", "weapons"]}, "Choose one of the options."),
        ({"membership__policy": "secret"}, "Choose one of the options."),
        ({}, "The new rules are the same as the ones in force."),
    ],
)
def test_bad_rules_get_a_message_and_change_nothing(client, make, db_session, changes, message):
    admin = make.user()
    group = make.group(admin=admin)
    login(client, admin)
    data = charter_form_data(services.current_charter(db_session, group), **changes)
    response = client.submit(f"/groups/{group.slug}/charter/edit", data)
    assert response.status_code == 400
    assert message in response.text
    assert (
        db_session.scalar(
            select(func.count(CharterVersion.id)).where(CharterVersion.group_id == group.id)
        )
        == 1
    )


def test_members_and_admins_of_a_voting_charter_cannot_change_it_directly(client, make):
    admin = make.user()
    group = make.group(admin=admin, decisions__charter_changes="vote")
    member = make.member(group)
    for user in (member, admin):
        login(client, user)
        assert client.get(f"/groups/{group.slug}/charter/edit").status_code == 403
        assert client.submit(f"/groups/{group.slug}/charter/edit", {}).status_code == 403
    assert "changes only by a vote" in client.get(f"/groups/{group.slug}/charter").text


@pytest.mark.parametrize(
    "query, status",
    [
        ({"from": "1", "to": "x"}, 400),
        ({"from": "1"}, 400),
        ({"from": "0", "to": "1"}, 400),
        ({"from": "1", "to": "9"}, 404),
        ({"from": "1", "to": "1"}, 200),
    ],
)
def test_the_diff_refuses_bad_version_numbers(client, make, query, status):
    admin = make.user()
    group = make.group(admin=admin)
    login(client, admin)
    response = client.get(f"/groups/{group.slug}/charter/diff", query_string=query)
    assert response.status_code == status


def test_the_history_page_statement_count_does_not_grow_with_versions(
    client, make, db_session, count_queries
):
    admin = make.user()
    group = make.group(admin=admin)
    login(client, admin)
    url = f"/groups/{group.slug}/charter"
    client.get(url)
    with count_queries() as few:
        client.get(url)
    for k in range(6, 16):
        make.charter(group, k_anonymity=k, company_k=k + 5)
    db_session.commit()
    with count_queries() as many:
        html = client.get(url).text
    assert "version 11" in html
    assert many["n"] == few["n"]


def test_a_form_left_open_does_not_undo_a_change_made_meanwhile(client, make, db_session):
    admin = make.user()
    group = make.group(admin=admin)
    seen = services.current_charter(db_session, group)  # k = 5 in the form
    make.charter(group, k_anonymity=9)  # another admin, meanwhile
    login(client, admin)
    data = charter_form_data(seen, revenue__reserve_percent="20")
    assert client.submit(f"/groups/{group.slug}/charter/edit", data).status_code == 302
    charter = services.current_charter(db_session, group)
    assert (charter.k_anonymity, charter["revenue.reserve_percent"]) == (9, 20)
    stale = charter_form_data(seen, based_on="77", revenue__reserve_percent="30")
    response = client.submit(f"/groups/{group.slug}/charter/edit", stale)
    assert response.status_code == 400 and "out of date" in response.text


@pytest.mark.parametrize("epsilon", ["Infinity", "-Infinity", "NaN", "1e999999", "0.0001"])
def test_impossible_numbers_are_refused_not_crashed_on(client, make, db_session, epsilon):
    admin = make.user()
    group = make.group(admin=admin)
    login(client, admin)
    data = charter_form_data(
        services.current_charter(db_session, group),
        privacy__noise="y",
        privacy__noise_epsilon_milli=epsilon,
    )
    response = client.submit(f"/groups/{group.slug}/charter/edit", data)
    assert response.status_code == 400
    assert services.version_count(db_session, group) == 1


# --- an admin's change while members vote on the same rule ---------------------------


def test_an_admin_is_warned_before_changing_a_rule_members_are_voting_on(client, make, db_session):
    admin = make.user()
    group = make.group(admin=admin)
    member = make.member(group)
    charter = services.current_charter(db_session, group)
    proposal = decisions.open_proposal(
        db_session,
        member,
        group,
        kind="charter",
        title="Two weeks to vote",
        description="",
        payload={"changes": {"decisions.voting_days": 14}},
    )
    db_session.commit()
    login(client, admin)
    url = f"/groups/{group.slug}/charter/edit"
    form = client.get(url).text
    assert "Members are voting on changing this rule:" in form
    assert f"#{proposal.number} Two weeks to vote" in form
    assert "In days, 1 to 60." in form  # the unit and the range of a number

    # A change elsewhere goes through at once.
    other = charter_form_data(charter, privacy__k_anonymity="6")
    assert client.submit(url, other).status_code == 302
    charter = services.current_charter(db_session, group)
    assert charter.k_anonymity == 6

    # The same rule: asked first, and the first submit changes nothing.
    data = charter_form_data(charter, decisions__voting_days="3")
    asked = client.submit(url, data)
    assert asked.status_code == 200
    assert "Change rules that an open proposal is about?" in asked.text
    assert "If the proposal passes, its rules replace yours." in asked.text
    assert services.current_charter(db_session, group)["decisions.voting_days"] == 7
    done = client.submit(url, {**data, "confirmed": "yes"})
    assert done.status_code == 302
    assert services.current_charter(db_session, group)["decisions.voting_days"] == 3
    assert db_session.get(type(proposal), proposal.id).status == "open"


@pytest.mark.parametrize("shown", [False, True])
def test_the_running_tally_shows_only_where_the_charter_says(client, make, db_session, shown):
    admin = make.user()
    group = make.group(admin=admin, decisions__show_tally=shown)
    voters = [make.member(group) for _ in range(3)]
    for membership in group.memberships:
        membership.active_since = utcnow() - timedelta(days=30)
    proposal = decisions.open_proposal(
        db_session, admin, group, kind="motion", title="Solar", description=""
    )
    decisions.cast_vote(db_session, voters[0], proposal, "yes")
    decisions.cast_vote(db_session, voters[1], proposal, "no")
    db_session.commit()
    login(client, voters[2])
    page = client.get(f"/groups/{group.slug}/proposals/{proposal.number}").text
    assert ('id="running-tally"' in page) is shown
    if shown:
        assert "<dt>Yes so far</dt><dd>1</dd>" in page and "<dt>No so far</dt><dd>1</dd>" in page
    else:
        assert "keeps the running tally hidden" in page
