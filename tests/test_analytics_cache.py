"""The counters behind analytics releases: every change a group's figures depend on raises them,
and the members whose shared data changed are recorded per group."""

import pytest
from sqlalchemy import delete, select, update

from tecopio.accounts.services import end_all_sessions, update_profile
from tecopio.analytics.cache import Version, group_version
from tecopio.analytics.models import ChangedMember
from tecopio.directory.services import merge_companies
from tecopio.groups.models import MembershipStatus
from tecopio.groups.services import leave_group, membership_of
from tecopio.memberdata.imports import import_csv, template_csv
from tecopio.memberdata.models import Feedback, Intent, PreferenceCompany
from tecopio.privacy.records import erase_account
from tecopio.privacy.services import set_consent

pytestmark = pytest.mark.usefixtures("app_ctx")


@pytest.fixture
def version(db_session):
    def read(group) -> Version:
        db_session.flush()
        return group_version(db_session, group.id) or Version(0, 0)

    return read


def moved(before: Version, after: Version) -> str:
    """ "removal" when both counters moved, "change" when only ``changes`` did, else ""."""
    if after.removals > before.removals:
        assert after.changes > before.changes
        return "removal"
    return "change" if after.changes > before.changes else ""


def test_members_items_count_in_their_groups_only(db_session, make, version):
    group, other = make.group(), make.group()
    member = make.member(group)
    start, elsewhere = version(group), version(other)
    set_consent(db_session, member, group, make.category("energy"), True)
    assert moved(start, version(group)) == "change"
    before = version(group)
    intent = make.intent(member)
    assert moved(before, version(group)) == "change"
    before = version(group)
    intent.quantity = 2
    db_session.commit()
    assert moved(before, version(group)) == "change"  # an edit adds, it takes nothing away
    assert version(other) == elsewhere  # another group's figures stay as they are


@pytest.mark.parametrize(
    "action",
    ["withdraw consent", "leave", "delete intent", "delete company link"],
)
def test_what_takes_data_away_is_a_removal(db_session, make, version, action):
    """Only where the group counted the data: see the next test for data it never saw."""
    group = make.group()
    member = make.member(group)
    set_consent(db_session, member, group, make.category("energy"), True)
    intent = make.intent(member)
    preference = make.preference(member)
    link = PreferenceCompany(preference=preference, company=make.company(), stance="like")
    db_session.add(link)
    before = version(group)
    if action == "withdraw consent":
        set_consent(db_session, member, group, make.category("energy"), False)
    elif action == "leave":
        leave_group(db_session, member, group)  # ends the member's consents
    elif action == "delete intent":
        db_session.delete(intent)
    else:
        db_session.delete(link)
    assert moved(before, version(group)) == "removal"


def test_imports_count_and_bulk_statements_count_for_their_members_groups(
    db_session, make, version
):
    group, other = make.group(), make.group()
    member = make.member(group)
    make.consent(member, group, "energy")
    make.intent(member)
    before = version(group)
    import_csv(db_session, member, "preferences", template_csv("preferences").encode())
    assert moved(before, version(group)) == "change"
    before, elsewhere = version(group), version(other)
    db_session.execute(update(Intent).where(Intent.user_id == member.id).values(quantity=5))
    assert moved(before, version(group)) == "removal"
    assert moved(elsewhere, version(other)) == ""  # one member's rows: another group untouched
    before = version(group)
    db_session.execute(delete(Intent).where(Intent.user_id == member.id))
    assert moved(before, version(group)) == "removal"


def test_region_changes_and_merges_count_but_other_account_changes_do_not(
    db_session, make, version
):
    group = make.group()
    user = make.member(group)
    make.consent(user, group, "energy")
    before = version(group)
    end_all_sessions(user)  # logging out everywhere changes nothing the figures show
    user.locale = "eu"
    assert version(group) == before
    update_profile(user, display_name="Renamed", locale="es", region="Bilbao")
    assert moved(before, version(group)) == "change"
    before = version(group)
    kept, duplicate = make.company(name="Kept Co"), make.company(name="Kept Co S.A.")
    assert version(group) == before  # a new directory entry changes no figure
    merge_companies(db_session, make.user(is_platform_admin=True), duplicate, kept)
    assert moved(before, version(group)) != ""


def changed_members(db_session, group) -> set[int]:
    db_session.flush()
    return set(
        db_session.scalars(select(ChangedMember.user_id).where(ChangedMember.group_id == group.id))
    )


def test_members_who_change_what_they_share_are_recorded_and_others_are_not(db_session, make):
    group = make.group()
    sharing, silent, empty = make.member(group), make.member(group), make.member(group)
    set_consent(db_session, empty, group, make.category("energy"), True)
    assert changed_members(db_session, group) == set()  # consent to nothing changes nothing
    make.intent(sharing)
    set_consent(db_session, sharing, group, make.category("energy"), True)
    assert changed_members(db_session, group) == {sharing.id}  # a consent is a change
    make.intent(silent)  # shares nothing with the group: changes none of its figures
    update_profile(silent, display_name="Silent", locale="en", region="Getxo")
    assert changed_members(db_session, group) == {sharing.id}
    make.intent(sharing)
    make.intent(sharing)  # one member however many changes
    make.intent(sharing, category=make.category("telecom"))  # not shared with the group
    assert changed_members(db_session, group) == {sharing.id}
    strands = set(
        db_session.scalars(select(ChangedMember.strand).where(ChangedMember.group_id == group.id))
    )
    assert strands == {f"intent:{make.category('energy').id}"}
    intent = make.intent(sharing)
    db_session.execute(delete(ChangedMember))
    intent.quantity = intent.quantity  # saved again as it was
    intent.description = "A private description"  # no figure reads it
    intent.updated_at = intent.updated_at.replace(year=2030)
    db_session.flush()
    assert changed_members(db_session, group) == set()
    moved_day = 2 if intent.window_start.day != 2 else 3  # whatever today is
    intent.window_start = intent.window_start.replace(day=moved_day)  # the quarters read it
    db_session.flush()
    assert changed_members(db_session, group) == {sharing.id}


@pytest.mark.parametrize("action", ["region", "withdraw", "leave", "erase", "merge", "bulk"])
def test_every_kind_of_change_records_whose_it_was(db_session, make, action):
    group = make.group()
    member = make.member(group)
    set_consent(db_session, member, group, make.category("energy"), True)
    company = make.company(name="Twice Co")
    make.feedback(member, company=company, category=make.category("energy"))
    db_session.execute(delete(ChangedMember))
    if action == "region":
        update_profile(member, display_name="M", locale="en", region="Bilbao")
    elif action == "withdraw":
        set_consent(db_session, member, group, make.category("energy"), False)
    elif action == "leave":
        leave_group(db_session, member, group)
    elif action == "erase":
        erase_account(db_session, member)
    elif action == "merge":
        merge_companies(
            db_session, make.user(is_platform_admin=True), company, make.company(name="Kept")
        )
    else:
        db_session.execute(update(Intent).where(Intent.user_id == member.id).values(quantity=5))
        db_session.execute(delete(Feedback).where(Feedback.user_id == member.id))
    assert changed_members(db_session, group) == {member.id}


def test_one_members_erasure_leaves_other_groups_releases_alone(db_session, make, version):
    group, other = make.group(), make.group()
    member, stranger = make.member(group), make.member(other)
    for user, where in ((member, group), (stranger, other)):
        make.consent(user, where, "energy")
        make.intent(user)
    before, elsewhere = version(group), version(other)
    erase_account(db_session, member)
    assert moved(before, version(group)) == "removal"
    assert version(other) == elsewhere


@pytest.mark.parametrize("action", ["unshared item", "member sharing nothing", "bare leave"])
def test_taking_away_what_the_group_never_counted_withdraws_nothing(
    db_session, make, version, action
):
    group = make.group()
    member = make.member(group)
    make.consent(member, group, "energy")
    unshared = make.intent(member, category=make.category("mobility"))
    silent = make.member(group)
    silent_intent = make.intent(silent)
    before = version(group)
    if action == "unshared item":
        db_session.delete(unshared)
    elif action == "member sharing nothing":
        db_session.delete(silent_intent)
    else:
        membership_of(db_session, silent, group).status = MembershipStatus.LEFT
    assert version(group).removals == before.removals
