"""What a notification says and where it leads, written in the reader's language when shown."""

from flask import current_app, url_for
from flask_babel import format_date
from flask_babel import lazy_gettext as _l

from tecopio.governance.kinds import title_of
from tecopio.groups.services import invitation_token
from tecopio.notifications.models import Notification, NotificationKind
from tecopio.views import public_url

A_FORMER_MEMBER = _l("a former member")

TEXTS = {
    NotificationKind.PROPOSAL_OPENED: _l("%(group)s: a vote has opened on “%(title)s”."),
    NotificationKind.PROPOSAL_CLOSING: _l(
        "%(group)s: the vote on “%(title)s” closes in a day, and you have not voted."
    ),
    NotificationKind.JOIN_REQUESTED: _l("%(group)s: %(name)s asks to join."),
    NotificationKind.JOIN_APPROVED: _l("%(group)s: your request to join was approved. Welcome!"),
    NotificationKind.JOIN_DECLINED: _l("%(group)s: your request to join was declined."),
    NotificationKind.MEMBER_REMOVED: _l("%(group)s: an admin removed you from the group."),
    NotificationKind.INVITED: _l("%(group)s: you are invited to join."),
    NotificationKind.OFFER_INVITED: _l(
        "%(group)s invites %(company)s to bid on its offer “%(title)s”."
    ),
    NotificationKind.DEAL_OPENED: _l(
        "%(group)s: a deal with %(company)s on “%(title)s” matches what you intend to buy. "
        "Commit until the end of %(date)s if you wish."
    ),
    NotificationKind.DEAL_TIPPED: _l(
        "%(group)s: the deal with %(company)s on “%(title)s” goes ahead: enough members committed."
    ),
    NotificationKind.DEAL_FAILED: _l(
        "%(group)s: the deal with %(company)s on “%(title)s” did not reach its tipping point. "
        "Nobody is bound."
    ),
    NotificationKind.DEAL_TIPPED_COMPANY: _l(
        "%(group)s: the deal on “%(title)s” goes ahead. See the committed members and quantity."
    ),
    NotificationKind.DEAL_FAILED_COMPANY: _l(
        "%(group)s: the deal on “%(title)s” did not reach its tipping point by its deadline."
    ),
}
SUBJECTS = {
    NotificationKind.PROPOSAL_OPENED: _l("A vote has opened in %(group)s"),
    NotificationKind.PROPOSAL_CLOSING: _l("A vote in %(group)s closes in a day"),
    NotificationKind.JOIN_REQUESTED: _l("Someone asks to join %(group)s"),
    NotificationKind.JOIN_APPROVED: _l("You are now a member of %(group)s"),
    NotificationKind.JOIN_DECLINED: _l("Your request to join %(group)s"),
    NotificationKind.MEMBER_REMOVED: _l("You are no longer a member of %(group)s"),
    NotificationKind.INVITED: _l("You are invited to join %(group)s"),
    NotificationKind.OFFER_INVITED: _l("%(group)s invites your company to bid"),
    NotificationKind.DEAL_OPENED: _l("A deal in %(group)s you may commit to"),
    NotificationKind.DEAL_TIPPED: _l("A deal goes ahead in %(group)s"),
    NotificationKind.DEAL_FAILED: _l("A deal in %(group)s did not go ahead"),
    NotificationKind.DEAL_TIPPED_COMPANY: _l("A deal goes ahead with %(group)s"),
    NotificationKind.DEAL_FAILED_COMPANY: _l("A deal with %(group)s did not go ahead"),
    NotificationKind.OFFER_DECIDED: _l("%(group)s has chosen among the bids"),
}
# What the group chose, as the company reads it: its bid, another, or none.
DECIDED = {
    "yours": _l("%(group)s accepted the bid of %(company)s on its offer “%(title)s”."),
    "other": _l(
        "%(group)s accepted another company's bid on its offer “%(title)s”: not that of "
        "%(company)s."
    ),
    "none": _l("%(group)s accepted no bid on its offer “%(title)s”."),
}


def _applicant(notification: Notification) -> str:
    user = notification.membership.user if notification.membership else None
    if user is None or user.erased_at is not None:
        return str(A_FORMER_MEMBER)
    return user.display_name


def text(notification: Notification) -> str:
    values = {"group": notification.group.name, "title": "", "name": "", "company": ""}
    if notification.proposal is not None:
        values["title"] = title_of(notification.proposal)
    if notification.kind == NotificationKind.JOIN_REQUESTED:
        values["name"] = _applicant(notification)
    if notification.offer_invitation is not None:
        values["company"] = notification.offer_invitation.partner.name
        values["title"] = notification.offer_invitation.offer.title
    if notification.deal is not None:
        deal = notification.deal
        values.update(
            company=deal.partner.name,
            title=deal.offer.title,
            date=format_date(deal.last_day),
        )
    if notification.kind == NotificationKind.OFFER_DECIDED:
        return str(DECIDED[_outcome(notification)] % values)
    return str(TEXTS[notification.kind] % values)


def _outcome(notification: Notification) -> str:
    invitation = notification.offer_invitation
    awarded = invitation.offer.awarded_partner_id
    if awarded is None:
        return "none"
    return "yours" if awarded == invitation.partner_id else "other"


def subject(notification: Notification) -> str:
    return str(SUBJECTS[notification.kind] % {"group": notification.group.name})


def target(notification: Notification) -> tuple[str, dict]:
    """The page a notice leads to: the endpoint and its values."""
    group = notification.group
    if notification.proposal is not None:
        return "governance.proposal", {"slug": group.slug, "number": notification.proposal.number}
    if notification.kind == NotificationKind.JOIN_REQUESTED:
        return "groups.members", {"slug": group.slug}
    if notification.deal is not None and notification.offer_invitation is None:
        return "deals.deal", {"slug": group.slug, "number": notification.deal.offer.number}
    if notification.offer_invitation is not None:
        invitation = notification.offer_invitation
        return "demand.company_offer", {
            "company": invitation.partner.slug,
            "group_slug": group.slug,
            "number": invitation.offer.number,
        }
    if notification.kind == NotificationKind.INVITED and notification.invitation is not None:
        token = invitation_token(notification.invitation, current_app.config["SECRET_KEY"])
        return "groups.invitation", {"token": token}
    return "groups.show", {"slug": group.slug}


def link(notification: Notification, *, external: bool = False) -> str:
    endpoint, values = target(notification)
    return public_url(endpoint, **values) if external else url_for(endpoint, **values)
