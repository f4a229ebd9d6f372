"""Every action the code records reads as a sentence in the audit log and the timelines."""

import re
from pathlib import Path

from tecopio.audit.labels import DESCRIPTIONS

ROOT = Path(__file__).resolve().parent.parent / "tecopio"
# record(session, "offer.published", ...) and "offer.awarded" if bid else "offer.not_awarded"
RECORDED = re.compile(r'(?:record|_audit)\(\s*\w+,\s*"([a-z_]+\.[a-z_]+)"')
CHOSEN = re.compile(r'"([a-z_]+\.[a-z_]+)" if [^"\n]+ else "([a-z_]+\.[a-z_]+)"')


def recorded_actions() -> set[str]:
    found = set()
    for path in ROOT.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        found.update(RECORDED.findall(source))
        for pair in CHOSEN.findall(source):
            found.update(pair)
    return found


def test_the_scan_finds_the_actions():
    actions = recorded_actions()
    assert {"group.created", "offer.published", "bid.submitted", "offer.not_awarded"} <= actions


def test_every_recorded_action_has_words():
    described = {key.split(":")[0] for key in DESCRIPTIONS}
    assert sorted(recorded_actions() - described) == []
