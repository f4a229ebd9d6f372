"""Rules of the code itself, checked over its sources."""

import re
from pathlib import Path

import tecopio

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
