"""Audit events in words, in the reader's language."""

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

DESCRIPTIONS = {
    "group.created": _l("%(actor)s created the group."),
    "group.updated": _l("%(actor)s changed the group's details."),
    "member.joined": _l("%(target)s joined the group."),
    "member.requested": _l("%(target)s asked to join."),
    "member.request_withdrawn": _l("%(target)s withdrew their request to join."),
    "member.approved": _l("%(actor)s approved %(target)s as a member."),
    "member.rejected": _l("%(actor)s declined the request of %(target)s."),
    "member.promoted": _l("%(actor)s made %(target)s an admin."),
    "member.demoted": _l("%(actor)s made %(target)s a member instead of an admin."),
    "member.removed": _l("%(actor)s removed %(target)s from the group."),
    "member.left": _l("%(target)s left the group."),
    "invitation.sent": _l("%(actor)s invited %(email)s."),
    "invitation.revoked": _l("%(actor)s withdrew the invitation to %(email)s."),
    "invitation.accepted": _l("%(target)s accepted an invitation and joined."),
    "invitation.declined": _l("%(target)s declined an invitation."),
    # Decisions: a variant after the colon is the event's status or kind of adoption.
    "proposal.opened": _l("%(actor)s opened %(proposal)s."),
    "proposal.withdrawn": _l("%(actor)s withdrew %(proposal)s."),
    "proposal.closed:passed": _l("The members adopted %(proposal)s by vote."),
    "proposal.closed:rejected": _l("The vote on %(proposal)s closed: not adopted."),
    "proposal.closed": _l("The vote on %(proposal)s closed."),
    "charter.adopted:founding": _l("The group's first charter came into force."),
    "charter.adopted:admins": _l("%(actor)s changed the charter: version %(number)s."),
    "charter.adopted:vote": _l("Version %(number)s of the charter came into force by vote."),
    "charter.adopted": _l("Version %(number)s of the charter came into force."),
    # Demand offers and bids. Bids stay sealed until the deadline: their events name no company.
    "offer.drafted": _l("%(actor)s drafted offer %(number)s."),
    "offer.edited": _l("%(actor)s changed the draft of offer %(number)s."),
    "offer.published": _l("Offer %(number)s was published to partner companies."),
    "offer.rejected": _l("The members voted not to publish offer %(number)s."),
    "offer.cancelled": _l("%(actor)s cancelled the draft of offer %(number)s."),
    "offer.company_invited": _l("%(actor)s invited %(company)s to bid on offer %(number)s."),
    "offer.closed": _l("Bidding on offer %(number)s closed."),
    "bid.submitted": _l("A company bid on offer %(number)s."),
    # Money: invoices, payments and payouts are numbered within the group.
    "invoice.issued": _l("Invoice %(number)s was issued to %(company)s."),
    "payment.received": _l("%(actor)s recorded the payment of invoice %(number)s; it was shared."),
    "payment.paid_online": _l(
        "The payment of invoice %(number)s arrived through Stripe; it was shared."
    ),
    "payment.failed": _l("A payment of invoice %(number)s through Stripe did not go through."),
    "payment.review": _l(
        "A payment of invoice %(number)s arrived that cannot be shared as it is: it awaits review."
    ),
    "payment.refunded": _l(
        "Part or all of invoice %(number)s was refunded: the shares were taken back."
    ),
    "payment.charged_back": _l(
        "The company's bank disputed the payment of invoice %(number)s: the shares were taken back."
    ),
    "payment.return_undone": _l(
        "Money taken back from invoice %(number)s came back, and was shared again as before."
    ),
    "payment.give_back": _l(
        "%(actor)s gave the payment of invoice %(number)s kept for review back to the company."
    ),
    "payment.given_back": _l(
        "A payment of invoice %(number)s kept for review was refunded in full to the company."
    ),
    "payout.asked": _l("%(actor)s asked for payout %(number)s."),
    "payout.paid": _l("%(actor)s recorded payout %(number)s as paid."),
    "payout.cancelled": _l("%(actor)s cancelled payout %(number)s."),
    "payout.sent": _l("Payout %(number)s was sent through Stripe."),
    "payout.returned": _l("Payout %(number)s came back from Stripe: it is in the balance again."),
    "reserve.spent": _l("Money was spent from the reserve, as decision %(number)s says."),
    "bid.edited": _l("A company changed its bid on offer %(number)s."),
    "bid.withdrawn": _l("A company withdrew its bid on offer %(number)s."),
    "bid.declined": _l("A company declined to bid on offer %(number)s."),
    "bid.scored": _l("%(actor)s scored the bids on offer %(number)s."),
    "offer.awarded": _l("Offer %(number)s: the group accepted the bid of %(company)s."),
    "offer.not_awarded": _l("Offer %(number)s: the group accepted no bid."),
    "company.answered": _l("%(company)s answered the group about offer %(number)s."),
    "company.answered_feedback": _l("%(company)s answered the members' feedback about it."),
    "deal.opened": _l("Offer %(number)s: a deal opened for members to commit to."),
    # Who commits is the member's own business: the log says that someone did.
    "deal.committed": _l("A member committed to the deal on offer %(number)s."),
    "deal.withdrawn": _l("A member withdrew a commitment to the deal on offer %(number)s."),
    "deal.contact_shared": _l(
        "A member chose to share their contact details for the deal on offer %(number)s."
    ),
    "deal.contact_withheld": _l(
        "A member stopped sharing their contact details for the deal on offer %(number)s."
    ),
    "deal.tipped": _l(
        "The deal on offer %(number)s reached its tipping point with %(members)s members."
    ),
    "deal.failed": _l("The deal on offer %(number)s did not reach its tipping point."),
    "deal.completed": _l("The deal on offer %(number)s closed: its commitments are final."),
    "partner.registered": _l("%(actor)s registered a company account."),
    "partner.updated": _l("%(actor)s changed the company's details."),
    "partner.verified": _l("%(actor)s verified a company account."),
    "staff.invited": _l("%(actor)s invited %(email)s to act for the company."),
    "staff.invitation_revoked": _l("%(actor)s withdrew the staff invitation to %(email)s."),
    "staff.joined": _l("%(actor)s joined the company's staff."),
    "staff.removed": _l("%(actor)s removed %(target)s from the company's staff."),
    "staff.role_changed": _l("%(actor)s changed the role of %(target)s in the company."),
    "company.added": _l("You added a company to the directory."),
    "company.merged": _l("%(actor)s merged a duplicate company into another."),
    "provider_event.dismissed": _l(
        "%(actor)s dismissed an event of the payment provider about no payment of ours."
    ),
    # Members' own data: what the activity timeline of "My data" shows.
    "preference.created": _l("You added a preference."),
    "preference.updated": _l("You changed a preference."),
    "preference.deleted": _l("You deleted a preference."),
    "intent.created": _l("You added a purchase intent."),
    "intent.updated": _l("You changed a purchase intent."),
    "intent.status": _l("You changed the status of a purchase intent."),
    "intent.deleted": _l("You deleted a purchase intent."),
    "feedback.created": _l("You gave feedback."),
    "feedback.updated": _l("You changed your feedback."),
    "feedback.deleted": _l("You deleted your feedback."),
    "feedback.deal_rated": _l("You rated the deal on offer %(number)s of %(group)s."),
    "consent.granted": _l("You let %(group)s count your data in %(category)s."),
    "consent.withdrawn": _l("You withdrew consent for %(group)s in %(category)s."),
    "consent.ended": _l("Your consents for %(group)s ended when you left the group."),
    "preference.merge_conflict": _l(
        "Two companies you named were merged into one; your preference keeps one mention of it."
    ),
    "data.imported": _l("You imported %(count)s items from a file."),
    "data.exported": _l("You downloaded all your data."),
    "account.erased": _l("The account was erased."),
    "platform.admin_granted": _l("You became a platform admin."),
    "platform.admin_revoked": _l("You are no longer a platform admin."),
}
# The member's own steps in a group's deals, as the member's timeline tells them (the
# group's log says only that a member took them).
OWN_DEAL_STEPS = {
    "deal.committed": _l("You committed to the deal on offer %(number)s."),
    "deal.withdrawn": _l("You withdrew your commitment to the deal on offer %(number)s."),
    "deal.contact_shared": _l(
        "You chose to share your name and email for the deal on offer %(number)s."
    ),
    "deal.contact_withheld": _l(
        "You stopped sharing your name and email for the deal on offer %(number)s."
    ),
}

# What a company's timeline says: the group by name, never a member, admin or operator by
# name (its own staff only), never a rival's step, and deal figures only as the company is
# told them. A variant after the colon: "ours" when the event names this company.
COMPANY_DESCRIPTIONS = {
    "partner.registered": _l("%(actor)s registered the company account."),
    "partner.updated": _l("%(actor)s changed the company's details."),
    "partner.verified": _l("The platform's operator verified the company account."),
    "staff.invited": _l("%(actor)s invited someone to act for the company."),
    "staff.invitation_revoked": _l("%(actor)s withdrew a staff invitation."),
    "staff.joined": _l("%(actor)s joined the company's staff."),
    "staff.removed": _l("%(actor)s removed %(target)s from the company's staff."),
    "staff.role_changed": _l("%(actor)s changed the role of %(target)s in the company."),
    "offer.company_invited": _l("%(group)s invited the company to bid on offer %(number)s."),
    "bid.submitted": _l("%(actor)s bid on offer %(number)s of %(group)s."),
    "bid.edited": _l("%(actor)s changed the bid on offer %(number)s of %(group)s."),
    "bid.withdrawn": _l("%(actor)s withdrew the bid on offer %(number)s of %(group)s."),
    "bid.declined": _l("%(actor)s declined to bid on offer %(number)s of %(group)s."),
    "offer.closed": _l("Bidding on offer %(number)s of %(group)s closed."),
    "offer.awarded:ours": _l("%(group)s accepted the company's bid on offer %(number)s."),
    "offer.awarded": _l("%(group)s accepted another company's bid on offer %(number)s."),
    "offer.not_awarded": _l("%(group)s accepted no bid on offer %(number)s."),
    "deal.opened": _l("The deal on offer %(number)s of %(group)s opened to the members."),
    "deal.tipped": _l("The deal on offer %(number)s of %(group)s reached its tipping point."),
    "deal.failed": _l("The deal on offer %(number)s of %(group)s did not reach its tipping point."),
    "deal.completed": _l("The deal on offer %(number)s of %(group)s closed: it went ahead."),
    "company.answered": _l("%(actor)s answered %(group)s about offer %(number)s."),
    "company.answered_feedback": _l("%(actor)s answered the feedback of %(group)s."),
    "invoice.issued": _l("%(group)s invoiced the company: invoice %(number)s."),
    "payment.received": _l("%(group)s received the payment of invoice %(number)s."),
    "payment.paid_online": _l("%(group)s received the payment of invoice %(number)s."),
    "payment.failed": _l("A payment of invoice %(number)s of %(group)s did not go through."),
    "payment.review": _l(
        "A payment of invoice %(number)s of %(group)s was not needed: it will be given back."
    ),
    "payment.refunded": _l("Invoice %(number)s of %(group)s was refunded, in part or in all."),
    "payment.give_back": _l(
        "%(group)s gave back a payment of invoice %(number)s that was not needed."
    ),
    "payment.given_back": _l(
        "%(group)s gave back a payment of invoice %(number)s that was not needed."
    ),
    "payment.charged_back": _l("The payment of invoice %(number)s of %(group)s was disputed."),
    "payment.return_undone": _l(
        "Money taken back from invoice %(number)s of %(group)s came back to the group."
    ),
}
# Of events about an offer the company was invited to but that name another company (or
# none), only these reach its timeline: every invited company is told them.
OFFER_WIDE = ("offer.closed", "offer.awarded", "offer.not_awarded")

SOMEONE = _l("a former user")


def person(user) -> str:
    """A user's name, or "a former user" once the account is gone or erased."""
    if user is None or user.erased_at is not None:
        return str(SOMEONE)
    return user.display_name


UNKNOWN = _l("Something happened that this version of Tecopio cannot describe.")
A_PROPOSAL = _l("a proposal")
NUMBERED_PROPOSAL = _l("proposal #%(number)s")


def _proposal(details: dict) -> str:
    """Proposals are named by their number in the group (events before numbers: "a proposal")."""
    number = details.get("number")
    return str(NUMBERED_PROPOSAL % {"number": number} if number else A_PROPOSAL)


def _template(event, details: dict, reader, company):
    if company is not None:
        ours = event.partner_id == company.id
        return (COMPANY_DESCRIPTIONS.get(f"{event.action}:ours") if ours else None) or (
            COMPANY_DESCRIPTIONS.get(event.action)
        )
    if reader is not None and event.actor_id == reader.id and event.action in OWN_DEAL_STEPS:
        return OWN_DEAL_STEPS[event.action]
    variant = details.get("status") or details.get("adoption")
    return DESCRIPTIONS.get(f"{event.action}:{variant}") or DESCRIPTIONS.get(event.action)


def describe(event, categories=None, *, reader=None, company=None) -> str:
    """The event as a sentence; ``categories`` (a CategoryTree) names categories by label.

    ``reader``: the member whose timeline shows it (their own steps in deals read "You…");
    ``company``: the partner company whose timeline shows it (its own words, see
    ``COMPANY_DESCRIPTIONS``). Never the raw code: an action without words reads as
    "something happened".
    """
    details = dict(event.details or {})
    template = _template(event, details, reader, company)
    if template is None:
        return str(UNKNOWN)
    if "group_name" not in details and event.group is not None:
        details["group_name"] = event.group.name
    category = categories.by_slug.get(details.get("category")) if categories else None
    if category is not None:
        details["category"] = category.label(str(get_locale()))
    return str(template) % {
        "actor": person(event.actor),
        "target": person(event.target_user),
        "email": details.get("email", ""),
        "group": details.get("group_name", ""),
        "category": details.get("category", ""),
        "status": details.get("status", ""),
        "count": details.get("count", 0),
        "number": details.get("number", ""),
        "company": details.get("company", ""),
        "members": details.get("members", ""),
        "proposal": _proposal(details) if event.action.startswith("proposal.") else "",
    }


def init_app(app) -> None:
    app.jinja_env.globals["describe_audit_event"] = describe
    app.jinja_env.globals["person"] = person
