"""Consent, export and erasure at the service level (imports: test_memberdata_imports.py)."""

import csv
import io
import json
import re
import zipfile

import pytest
from sqlalchemy import String, Text, func, select, text, update
from sqlalchemy.exc import DatabaseError

from tecopio.accounts.models import User
from tecopio.accounts.services import authenticate, register_user
from tecopio.audit.labels import describe
from tecopio.audit.models import AuditEvent
from tecopio.db import db
from tecopio.groups.models import Membership, MembershipStatus, Role
from tecopio.groups.services import invite, join_group, leave_group, remove_member
from tecopio.memberdata.models import Feedback, Intent, Preference, PreferenceCompany
from tecopio.privacy import records, services
from tecopio.privacy.models import Consent, ConsentEvent
from tecopio.text import spreadsheet_safe
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("app_ctx")


# --- consent ----------------------------------------------------------------------


def shared_ids(session, model, group):
    return sorted(item.id for item in session.scalars(services.shared_with_group(model, group.id)))


def test_nothing_is_shared_until_the_member_consents(db_session, make):
    group = make.group()
    member = make.member(group)
    preference = make.preference(member, category=make.category("energy-electricity"))
    assert shared_ids(db_session, Preference, group) == []
    services.set_consent(db_session, member, group, make.category("energy"), True)
    assert shared_ids(db_session, Preference, group) == [preference.id]


def test_consent_covers_only_its_group_and_top_category(db_session, make):
    group, other_group = make.group(), make.group()
    member = make.member(group)
    make.membership(other_group, member)
    energy = make.preference(member, category=make.category("energy-solar"))
    food = make.intent(member, category=make.category("food-produce"))
    services.set_consent(db_session, member, group, make.category("energy"), True)
    assert shared_ids(db_session, Preference, group) == [energy.id]
    assert shared_ids(db_session, Intent, group) == []
    assert shared_ids(db_session, Preference, other_group) == []
    assert food.id not in shared_ids(db_session, Intent, group)


def test_withdrawing_consent_takes_effect_at_once(db_session, make):
    group = make.group()
    member = make.member(group)
    feedback = make.feedback(member, category=make.category("telecom-mobile"))
    telecom = make.category("telecom")
    services.set_consent(db_session, member, group, telecom, True)
    assert shared_ids(db_session, Feedback, group) == [feedback.id]
    services.set_consent(db_session, member, group, telecom, False)
    assert shared_ids(db_session, Feedback, group) == []


@pytest.mark.parametrize("how", ["leave", "removed"])
def test_leaving_or_being_removed_ends_consent_for_good(db_session, make, how):
    group = make.group()
    member = make.member(group)
    preference = make.preference(member)
    services.set_consent(db_session, member, group, make.category("energy"), True)
    membership = db_session.scalar(select(Membership).where(Membership.user_id == member.id))
    if how == "leave":
        leave_group(db_session, member, group)
    else:
        remove_member(db_session, make.admin_of(group), membership)
    assert services.current_consents(db_session, member) == {
        (group.id, make.category("energy").id): False
    }
    assert [e.granted for e in services.consent_history(db_session, member)] == [False, True]
    if how == "leave":
        join_group(db_session, member, group)
        assert preference.id not in shared_ids(db_session, Preference, group)


def test_members_who_left_are_not_counted(db_session, make):
    group = make.group()
    member = make.member(group)
    make.preference(member)
    services.set_consent(db_session, member, group, make.category("energy"), True)
    services_membership = db_session.scalar(
        select(Membership).where(Membership.user_id == member.id)
    )
    services_membership.status = MembershipStatus.LEFT
    assert shared_ids(db_session, Preference, group) == []


@pytest.mark.parametrize("status", [MembershipStatus.PENDING, MembershipStatus.LEFT, None])
def test_only_active_members_can_consent(db_session, make, status):
    group, user = make.group(), make.user()
    if status:
        make.membership(group, user, status=status)
    with pytest.raises(services.ConsentError):
        services.set_consent(db_session, user, group, make.category("energy"), True)
    assert db_session.scalar(select(func.count(ConsentEvent.id))) == 0


def test_consent_is_for_top_level_categories(db_session, make):
    group = make.group()
    with pytest.raises(ValueError):
        services.set_consent(
            db_session, make.member(group), group, make.category("energy-gas"), True
        )


def test_the_log_grows_and_the_state_follows_its_latest_event(db_session, make):
    group = make.group()
    member = make.member(group)
    energy = make.category("energy")
    for granted in (True, True, False, True, False):
        services.set_consent(db_session, member, group, energy, granted)
    history = services.consent_history(db_session, member)
    assert [e.granted for e in history] == [
        False,
        True,
        False,
        True,
    ]  # newest first; repeats skipped
    assert services.current_consents(db_session, member) == {(group.id, energy.id): False}


def test_consent_events_cannot_be_changed_or_deleted_through_the_orm(db_session, make):
    group = make.group()
    member = make.member(group)
    event = services.set_consent(db_session, member, group, make.category("energy"), True)
    db_session.commit()
    event.granted = False
    with pytest.raises(services.AppendOnlyViolation):
        db_session.flush()
    db_session.rollback()
    db_session.delete(db_session.get(ConsentEvent, event.id))
    with pytest.raises(services.AppendOnlyViolation):
        db_session.flush()


def test_the_database_refuses_updates_to_the_consent_log(db_session, make):
    group = make.group()
    member = make.member(group)
    event = services.set_consent(db_session, member, group, make.category("energy"), True)
    db_session.commit()
    with pytest.raises(DatabaseError, match="append-only"), db_session.begin_nested():
        db_session.execute(
            update(ConsentEvent).where(ConsentEvent.id == event.id).values(granted=False)
        )
    assert db_session.scalar(select(ConsentEvent.granted).where(ConsentEvent.id == event.id))


# --- export ----------------------------------------------------------------------------


def owned_world(make):
    group = make.group(name="Bilbao Energy")
    member = make.member(group, display_name="Exported Person", email="josé.exported@example.com")
    other = make.member(group, display_name="Someone Else", email="else@example.com")
    for user, note in ((member, "my own note"), (other, "SECRET OF SOMEONE ELSE")):
        make.preference(user, note=note)
        make.intent(user, description=f"intent of {user.display_name}")
        make.feedback(user, body=f"feedback of {user.display_name}")
    return group, member, other


def test_export_holds_every_item_of_the_member_and_nothing_of_anyone_else(db_session, make):
    group, member, other = owned_world(make)
    services.set_consent(db_session, member, group, make.category("energy"), True)
    data = records.export_data(db_session, member)
    for key, model in (("preferences", Preference), ("intents", Intent), ("feedback", Feedback)):
        owned = db_session.scalars(select(model.id).where(model.user_id == member.id)).all()
        assert sorted(item["id"] for item in data[key]) == sorted(owned)
    assert data["account"]["email"] == "josé.exported@example.com"
    assert [m["group"] for m in data["memberships"]] == ["Bilbao Energy"]
    assert len(data["consent_history"]) == 1
    dumped = json.dumps(data)
    for foreign in ("SECRET OF SOMEONE ELSE", "Someone Else", "else@example.com"):
        assert foreign not in dumped


def test_exported_spreadsheets_do_not_run_formulas(db_session, make):
    user = make.user()
    evil = make.company(name='=HYPERLINK("https://evil.example","x")')
    preference = make.preference(user, note="+cmd|' /C calc'!A0")
    preference.companies.append(PreferenceCompany(company=evil, stance="like"))
    db_session.commit()
    archive = zipfile.ZipFile(io.BytesIO(records.export_zip(records.export_data(db_session, user))))
    rows = list(csv.DictReader(io.StringIO(archive.read("preferences.csv").decode())))
    assert rows[0]["liked"].startswith("'=")
    assert rows[0]["note"].startswith("'+")
    assert json.loads(archive.read("data.json"))["preferences"][0]["note"].startswith("+")


@pytest.mark.parametrize(
    "cell, safe",
    [
        ("=1+1", "'=1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ('ok;=HYPERLINK("https://evil.example")', 'ok;\'=HYPERLINK("https://evil.example")'),
        ("Kept;=evil;+evil", "Kept;'=evil;'+evil"),
        ("a, -1", "a, '-1"),
        ("a\t@b", "a\t'@b"),
        ("first line\n=second", "first line\n'=second"),
        ("plain, text; 2024-01-01T10:00:00+00:00", "plain, text; 2024-01-01T10:00:00+00:00"),
        (3, 3),
    ],
)
def test_spreadsheet_safe_neutralises_every_part_that_could_start_a_cell(cell, safe):
    assert spreadsheet_safe(cell) == safe


def test_formulas_after_a_separator_do_not_run_either(db_session, make):
    user = make.user()
    kept = make.company(name="Ekiluz")
    evil = make.company(name='=HYPERLINK("https://evil.example","x")')
    preference = make.preference(user, note='ok;=HYPERLINK("https://evil.example","x")')
    for company in (kept, evil):
        preference.companies.append(PreferenceCompany(company=company, stance="like"))
    db_session.commit()
    archive = zipfile.ZipFile(io.BytesIO(records.export_zip(records.export_data(db_session, user))))
    rows = list(csv.DictReader(io.StringIO(archive.read("preferences.csv").decode())))
    assert rows[0]["note"] == 'ok;\'=HYPERLINK("https://evil.example","x")'
    assert sorted(rows[0]["liked"].split(";")) == [
        '\'=HYPERLINK("https://evil.example","x")',
        "Ekiluz",
    ]
    for name in archive.namelist():
        if name.endswith(".csv"):
            for row in csv.reader(io.StringIO(archive.read(name).decode())):
                for cell in row:
                    for part in re.split(r"[;,\t\r\n]", cell):
                        assert not part.lstrip(" ").startswith(("=", "+", "-", "@")), (name, cell)


def test_export_names_consents_and_lists_invitations(db_session, make):
    group = make.group(name="Donostia Repair")
    member = make.member(group, email="lucia@example.com")
    services.set_consent(db_session, member, group, make.category("food"), True)
    make.invitation(make.group(name="Invited Group"), email="lucia@example.com")
    data = records.export_data(db_session, member)
    assert data["consents"] == [
        {
            "id": data["consents"][0]["id"],
            "group": "Donostia Repair",
            "category": "food",
            "granted": True,
            "updated_at": data["consents"][0]["updated_at"],
        }
    ]
    assert [(i["group"], i["status"]) for i in data["invitations"]] == [
        ("Invited Group", "pending")
    ]


def test_export_zip_has_json_and_one_csv_per_list(db_session, make):
    _group, member, _other = owned_world(make)
    archive = zipfile.ZipFile(
        io.BytesIO(records.export_zip(records.export_data(db_session, member)))
    )
    names = set(archive.namelist())
    assert {"data.json", "account.csv", "preferences.csv", "intents.csv", "feedback.csv"} <= names
    assert json.loads(archive.read("data.json"))["account"]["display_name"] == "Exported Person"
    assert "my own note" in archive.read("preferences.csv").decode()


# --- erasure ----------------------------------------------------------------------------


def text_values_containing(session, needles):
    """Every (table, column) whose text contains one of ``needles``, across the whole database.

    JSON columns may hold text escaped (é as \\u00e9), so the escaped spelling is searched too.
    """
    found = []
    needles = {spelling for needle in needles for spelling in (needle, json.dumps(needle)[1:-1])}
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, String | Text) or column.type.__class__.__name__ == "JSON":
                for needle in needles:
                    hit = session.execute(
                        select(func.count())
                        .select_from(table)
                        .where(func.lower(column.cast(Text)).contains(needle.lower()))
                    ).scalar()
                    if hit:
                        found.append((table.name, column.name, needle))
    return found


def test_erasure_leaves_no_personal_field_and_other_totals_unchanged(db_session, make):
    group, member, other = owned_world(make)
    admin = make.admin_of(group)
    services.set_consent(db_session, member, group, make.category("energy"), True)
    invite(db_session, admin, make.group(admin=admin), "josé.exported@example.com", valid_days=3)
    make.company(name="Added By Them", created_by_id=member.id)
    member.region = "Exportville"
    assert text_values_containing(
        db_session, ["josé.exported@example.com", "Exported Person", "Exportville"]
    )
    assert text_values_containing(db_session, ["Bilbao Energy"])  # consent activity names it

    def others_totals():
        return [
            db_session.scalar(select(func.count(model.id)).where(model.user_id != member.id))
            for model in (Preference, Intent, Feedback, Consent, Membership)
        ]

    before = others_totals()
    records.erase_account(db_session, member)
    db_session.commit()
    assert (
        text_values_containing(
            db_session, ["josé.exported@example.com", "Exported Person", "Exportville"]
        )
        == []
    )
    remaining = select(AuditEvent.action).where(AuditEvent.target_user_id == member.id)
    assert set(db_session.scalars(remaining)) <= {"account.erased", "member.joined"}
    assert others_totals() == before
    for model in (Preference, Intent, Feedback, Consent, ConsentEvent):
        assert (
            db_session.scalar(select(func.count(model.id)).where(model.user_id == member.id)) == 0
        )
    membership = db_session.scalar(select(Membership).where(Membership.user_id == member.id))
    assert membership.status == MembershipStatus.LEFT
    assert authenticate(db_session, "josé.exported@example.com", PASSWORD) is None
    # The address is free again.
    register_user(
        db_session,
        email="josé.exported@example.com",
        password="kelp forest walk",
        display_name="New",
    )


def test_waiting_applicants_also_keep_the_last_admin(db_session, make):
    admin = make.user()
    group = make.group(admin=admin)
    make.membership(group, status=MembershipStatus.PENDING)
    with pytest.raises(records.ErasureBlocked):
        records.erase_account(db_session, admin)


def test_the_last_admin_with_members_cannot_erase_until_handing_over(db_session, make):
    admin = make.user()
    group = make.group(admin=admin, name="Held Group")
    make.member(group)
    with pytest.raises(records.ErasureBlocked) as blocked:
        records.erase_account(db_session, admin)
    assert "Held Group" in str(blocked.value.message)
    assert db_session.get(User, admin.id).erased_at is None
    make.membership(group, role=Role.ADMIN)
    records.erase_account(db_session, admin)
    assert db_session.get(User, admin.id).erased_at is not None


def test_erased_people_appear_as_a_former_user_in_group_logs(db_session, make):
    admin = make.user(display_name="Gone Admin")
    group = make.group(admin=admin)
    make.membership(group, role=Role.ADMIN)
    event = AuditEvent(
        action="member.promoted",
        actor_id=admin.id,
        group_id=group.id,
        target_user_id=admin.id,
        details={},
    )
    db_session.add(event)
    records.erase_account(db_session, admin)
    db_session.commit()
    assert (
        describe(db_session.get(AuditEvent, event.id))
        == "a former user made a former user an admin."
    )


def test_consent_log_rows_only_leave_with_erasure(db_session, make):
    """The database refuses to delete consent history, except an erased account's."""
    group = make.group()
    member = make.member(group)
    services.set_consent(db_session, member, group, make.category("energy"), True)
    db_session.commit()
    with pytest.raises(DatabaseError, match="append-only"), db_session.begin_nested():
        db_session.execute(text("DELETE FROM consent_events"))
    assert db_session.execute(text("SELECT count(*) FROM consent_events")).scalar() == 1
    records.erase_account(db_session, member)
    assert db_session.execute(text("SELECT count(*) FROM consent_events")).scalar() == 0
