"""Events between features: what one feature tells the others, without importing them.

A feature sends an event where something happened in its own state; the
features that must react connect their handlers in their own ``init_app``
(never at import). Handlers run in the sender's transaction, with its
``session``, so their writes commit or roll back with the change itself;
anything slow is a job they queue (``tecopio.jobs``).

- ``member_left``: sender the group; ``session``, ``user``. The person left or
  was removed; privacy ends the consents they gave the group.
- ``proposal_opened``: sender the proposal; ``session``. Notifications tell
  the members who may vote.
- ``companies_merging``: sender the company folded away; ``session``,
  ``target``. Every feature that names companies moves its rows to the
  target; a handler returns how many of a member's mentions it had to drop
  (named both, with opposite stances), which the merge records.
"""

from blinker import Namespace

_events = Namespace()

member_left = _events.signal("member-left")
proposal_opened = _events.signal("proposal-opened")
companies_merging = _events.signal("companies-merging")


def connect(signal, handler) -> None:
    """Connect ``handler`` (a module-level function), once however many apps are built."""
    signal.connect(handler, weak=False)  # blinker keys receivers by identity: no duplicate
