"""The counter behind analytics snapshots: every change the figures depend on raises it."""

import pytest
from sqlalchemy import delete, update

from tecopio.accounts.services import end_all_sessions, update_profile
from tecopio.analytics.cache import data_fingerprint
from tecopio.directory.services import merge_companies
from tecopio.memberdata.imports import import_csv, template_csv
from tecopio.memberdata.models import Intent
from tecopio.privacy.services import set_consent

pytestmark = pytest.mark.usefixtures("app_ctx")


@pytest.fixture
def version(db_session):
    def read():
        db_session.flush()
        return int(data_fingerprint(db_session))

    return read


def test_flushed_changes_raise_the_counter(db_session, make, version):
    group = make.group()
    member = make.member(group)
    start = version()
    set_consent(db_session, member, group, make.category("energy"), True)
    assert version() > start
    before = version()
    intent = make.intent(member)
    assert version() > before
    before = version()
    intent.quantity = 2
    db_session.commit()
    assert version() > before


def test_bulk_statements_raise_the_counter(db_session, make, version):
    member = make.user()
    make.intent(member)
    before = version()
    db_session.execute(update(Intent).where(Intent.user_id == member.id).values(quantity=5))
    assert version() > before
    before = version()
    db_session.execute(delete(Intent).where(Intent.user_id == member.id))
    assert version() > before
    before = version()
    import_csv(db_session, member, "preferences", template_csv("preferences").encode())
    assert version() > before


def test_region_changes_and_merges_count_but_other_account_changes_do_not(
    db_session, make, version
):
    user = make.user()
    before = version()
    end_all_sessions(user)  # logging out everywhere changes nothing the figures show
    user.locale = "eu"
    assert version() == before
    update_profile(user, display_name="Renamed", locale="es", region="Bilbao")
    assert version() > before
    before = version()
    kept, duplicate = make.company(name="Kept Co"), make.company(name="Kept Co S.A.")
    assert version() == before  # a new directory entry changes no figure
    merge_companies(db_session, make.user(is_platform_admin=True), duplicate, kept)
    assert version() > before
