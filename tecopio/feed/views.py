"""The group's feed for its members, and a company's answer from its portal."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from tecopio import events, jobs, policy
from tecopio.db import db
from tecopio.demand.services import invitation_for
from tecopio.errors import abort_with
from tecopio.feed import services
from tecopio.feed.forms import AnswerForm
from tecopio.feed.models import FeedKind
from tecopio.groups.services import get_group
from tecopio.guards import for_company, for_group
from tecopio.privacy.registry import register_personal_data
from tecopio.views import page_number

bp = Blueprint("feed", __name__)


def entry_text(entry, bids: dict, awarded: dict) -> str:
    """The entry in the reader's language."""
    offer = entry.offer
    title = offer.title if offer else ""
    if entry.kind == FeedKind.OFFER_PUBLISHED:
        return _(
            "The group published its offer “%(title)s” to the companies it invited.", title=title
        )
    if entry.kind == FeedKind.BIDDING_CLOSED:
        return ngettext(
            "Bidding on “%(title)s” closed with %(num)d bid.",
            "Bidding on “%(title)s” closed with %(num)d bids.",
            bids.get(offer.id, 0),
            title=title,
        )
    if entry.kind == FeedKind.OFFER_AWARDED:
        return _(
            "The group accepted the bid of %(company)s on “%(title)s”.",
            company=awarded.get(offer.id, ""),
            title=title,
        )
    if entry.kind == FeedKind.OFFER_NOT_AWARDED:
        return _("The group accepted no bid on “%(title)s”.", title=title)
    if entry.kind == FeedKind.DEAL_TIPPED:
        return _(
            "The deal with %(company)s on “%(title)s” goes ahead: enough members committed.",
            company=entry.deal.partner.name,
            title=title,
        )
    if entry.kind == FeedKind.DEAL_FAILED:
        return _(
            "The deal with %(company)s on “%(title)s” did not reach its tipping point.",
            company=entry.deal.partner.name,
            title=title,
        )
    if offer is None:
        return _(
            "%(company)s answered the members' feedback about it:",
            company=entry.answer.partner.name,
        )
    return _(
        "%(company)s answered about “%(title)s”:", company=entry.answer.partner.name, title=title
    )


@bp.get("/groups/<slug>/feed")
@for_group(policy.can_view_feed)
def index(group):
    page = page_number()
    entries, total = services.feed_page(db.session, group, page)
    offer_ids = [e.offer_id for e in entries if e.offer_id]
    bids = services.bid_counts(db.session, offer_ids)
    awarded = services.awarded_names(db.session, offer_ids)
    return render_template(
        "feed/index.html",
        group=group,
        entries=[(entry, entry_text(entry, bids, awarded)) for entry in entries],
        page=page,
        total=total,
        per_page=services.PER_PAGE,
    )


@bp.post("/partners/<company>/offers/<group_slug>/<int:number>/answer")
@for_company(policy.can_answer_for_company)
def answer(partner, group_slug: str, number: int):
    group = get_group(db.session, group_slug)
    invitation = invitation_for(db.session, partner, group, number) if group else None
    if invitation is None:
        abort_with(404, _("There is no such offer."))
    form = AnswerForm()
    back = url_for(
        "demand.company_offer", company=partner.slug, group_slug=group_slug, number=number
    )
    if not form.validate_on_submit():
        abort_with(400, " ".join(map(str, form.body.errors)) or _("Write the answer."))
    try:
        services.answer(db.session, current_user, partner, invitation.offer, form.body.data)
    except services.AnswerError as error:
        db.session.rollback()
        abort_with(400, error.message)
    db.session.commit()
    flash(_("Your answer is in the group's feed."), "success")
    return redirect(back + "#answers")


@bp.get("/partners/<company>/feedback")
@for_company(policy.can_use_partner_portal)
def company_feedback(partner):
    return render_template(
        "feed/company_feedback.html",
        partner=partner,
        about=services.feedback_about(db.session, partner),
        form=AnswerForm(),
    )


@bp.post("/partners/<company>/feedback/<group_slug>/answer")
@for_company(policy.can_answer_for_company)
def answer_feedback(partner, group_slug: str):
    group = get_group(db.session, group_slug)
    if group is None or group not in services.inviting_groups(db.session, partner):
        abort_with(404, _("No such group has invited the company to an offer."))
    form = AnswerForm()
    if not form.validate_on_submit():
        abort_with(400, " ".join(map(str, form.body.errors)) or _("Write the answer."))
    try:
        services.answer_feedback(db.session, current_user, partner, group, form.body.data)
    except services.AnswerError as error:
        db.session.rollback()
        abort_with(400, error.message)
    db.session.commit()
    flash(_("Your answer is in the group's feed."), "success")
    return redirect(url_for("feed.company_feedback", company=partner.slug) + f"#group-{group.slug}")


def init_app(app) -> None:
    app.register_blueprint(bp)
    jobs.register(app, services.FEEDBACK_JOB, services.release_group_feedback)
    jobs.register(app, services.FEEDBACK_DUE_JOB, services.queue_due_feedback, every_minutes=60)
    register_personal_data(
        "company_answers",
        table="company_answers",
        title=_l("Answers you wrote to a group for a company"),
        export=services.export_answers,
        erase=services.unname_answers,
        kept=_l("The company's answers, without saying who wrote them."),
    )
    # Offers' pages (the group's and the company's) list the answers about them.
    app.jinja_env.globals["answers_on"] = lambda offer: services.answers_on(db.session, offer)
    events.connect(events.offer_published, services.offer_published)
    events.connect(events.offer_closed, services.offer_closed)
    events.connect(events.offer_decided, services.offer_decided)
    events.connect(events.deal_tipped, services.deal_tipped)
    events.connect(events.deal_closed, services.deal_closed)
    events.connect(events.company_answered, services.company_answered)
