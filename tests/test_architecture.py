"""Rules of the code itself, checked over its sources."""

import re
import subprocess
import sys
from pathlib import Path

import tecopio
from tecopio import events

SOURCES = sorted(Path(tecopio.__file__).parent.rglob("*.py"))
LOCAL_CLOCK = re.compile(r"\bdate\.today\b|\bdatetime\.(?:now|today)\(\s*\)|\butcnow\(\)\.date\(\)")


def test_the_day_has_one_definition():
    """``tecopio.db.today`` (the UTC date); never the server's local clock, nor a second copy."""
    found = [
        f"{path.relative_to(path.parents[1])}:{number}: {line.strip()}"
        for path in SOURCES
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if LOCAL_CLOCK.search(line) and not (path.name == "db.py" and "return utcnow()" in line)
    ]
    assert found == []


def test_the_rule_finds_a_local_clock():
    assert LOCAL_CLOCK.search("start = date.today()")
    assert LOCAL_CLOCK.search("default=date.today")
    assert LOCAL_CLOCK.search("year = utcnow().date().year")
    assert not LOCAL_CLOCK.search("start = today()")


IMPORT_ONLY = """
from sqlalchemy import event
from sqlalchemy.orm import Session
import tecopio.analytics.cache as cache
import tecopio.governance.charters as charters
import tecopio.privacy.services as privacy
import tecopio.analytics.views, tecopio.groups.views, tecopio.memberdata.views
import tecopio.notifications.views, tecopio.governance.views, tecopio.privacy.views
from tecopio import events
print(
    event.contains(Session, "after_flush", cache._count_flushed_changes),
    event.contains(Session, "do_orm_execute", cache._count_bulk_changes),
    event.contains(Session, "before_flush", privacy.guard_append_only),
    event.contains(Session, "after_transaction_end", charters._forget_charters),
    *(bool(signal.receivers) for signal in
      (events.member_left, events.proposal_opened, events.companies_merging)),
)
"""


def test_importing_the_code_connects_nothing():
    """Listeners and event handlers connect in ``init_app``, never as a side effect of import."""
    found = subprocess.run(
        [sys.executable, "-c", IMPORT_ONLY], capture_output=True, text=True, check=True
    ).stdout.split()
    assert found == ["False"] * 7


def test_the_app_connects_every_event(app):
    for signal in (events.member_left, events.proposal_opened, events.companies_merging):
        assert signal.receivers, signal.name
