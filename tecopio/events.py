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
- ``join_requested``: sender the membership (pending); ``session``. The
  group's admins are told.
- ``join_request_closed``: sender the membership; ``session``, ``outcome``
  (``"approved"``, ``"declined"``, ``"withdrawn"``, or ``"invited"``: the
  applicant accepted an invitation). The admins' notices of
  it are done with; the applicant is told an answer.
- ``member_removed``: sender the membership; ``session``. The person is told
  (``member_left`` is sent too, for what ends with membership).
- ``invitation_sent`` / ``invitation_closed``: sender the invitation;
  ``session``. A person who has an account with that address sees it in the
  app; once answered or withdrawn, the notice is done with.
- ``vote_cast``: sender the proposal; ``session``, ``user``. The voter's
  notices of that vote are done with.
- ``offer_published``: sender the demand offer; ``session``. Its figures are
  frozen; the group's feed and notices follow.
- ``offer_closed``: sender the demand offer; ``session``. Bidding ended; the
  group's feed says how many bids came in.
- ``company_answered``: sender the company's answer; ``session``. The group's
  feed shows it.
- ``offer_invitation_sent``: sender the offer invitation; ``session``. The
  company's staff are told.
- ``bid_changed``: sender the bid; ``session``. A company bid, withdrew its
  bid or declined; the group's feed counts the bids.
- ``offer_decided``: sender the demand offer (awarded, or not); ``session``.
  Every invited company is told the outcome.
- ``deal_opened``: sender the deal; ``session``. Members whose intents match are told.
- ``deal_tipped``: sender the deal; ``session``. The committed members and the
  company are told it goes ahead.
- ``deal_closed``: sender the deal (failed or completed); ``session``. The
  committed members and the company are told how it ended.
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
join_requested = _events.signal("join-requested")
join_request_closed = _events.signal("join-request-closed")
member_removed = _events.signal("member-removed")
invitation_sent = _events.signal("invitation-sent")
invitation_closed = _events.signal("invitation-closed")
vote_cast = _events.signal("vote-cast")
offer_published = _events.signal("offer-published")
offer_invitation_sent = _events.signal("offer-invitation-sent")
bid_changed = _events.signal("bid-changed")
offer_decided = _events.signal("offer-decided")
offer_closed = _events.signal("offer-closed")
company_answered = _events.signal("company-answered")
deal_opened = _events.signal("deal-opened")
deal_tipped = _events.signal("deal-tipped")
deal_closed = _events.signal("deal-closed")


def connect(signal, handler) -> None:
    """Connect ``handler`` (a module-level function), once however many apps are built."""
    signal.connect(handler, weak=False)  # blinker keys receivers by identity: no duplicate
