"""A deal as the group's members see it: how far it is from tipping, and their commitment."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from tecopio import policy
from tecopio.db import db, utcnow
from tecopio.demand import deals as service
from tecopio.demand.forms import CommitForm, ConfirmForm, DealRatingForm
from tecopio.demand.models import DealStatus, DemandOffer
from tecopio.demand.presentation import price_text
from tecopio.errors import abort_with
from tecopio.governance.charters import current_charter
from tecopio.guards import Child, for_group
from tecopio.views import ask_first, confirmed

bp = Blueprint("deals", __name__)
OFFER = Child(DemandOffer, "number", "offer", by="number")


def _deal_of(offer):
    deal = service.deal_of(db.session, offer)
    if deal is None:
        abort_with(404, _("This offer has no deal: no bid was accepted."))
    return deal


def _commit_form(deal, form=None) -> CommitForm:
    form = form or CommitForm(formdata=request.form if request.method == "POST" else None)
    locale = str(get_locale())
    form.tier.choices = [("", _("whatever the number of members"))] + [
        (
            str(index),
            _(
                "at least %(num)d members commit (price %(price)s)",
                num=needed,
                price=price_text(deal.offer, deal.bid.tier_prices[index], locale),
            ),
        )
        for index, needed in enumerate(deal.offer.tiers)
    ]
    form.intent_id.choices = [("", _("none of them"))] + [
        (
            str(intent.id),
            f"{intent.description or intent.category.label(locale)} · {intent.quantity}",
        )
        for intent in service.matching_intents(db.session, deal, current_user)
    ]
    return form


def _rating_form(may_rate: bool, mine) -> DealRatingForm | None:
    """The rating form for members who may rate the deal (``service.can_rate``), filled
    with ``mine`` (their rating, if any)."""
    if not may_rate:
        return None
    if mine is None:
        return DealRatingForm(formdata=None)
    return DealRatingForm(
        formdata=None, rating=mine.rating, body=mine.body, visibility=mine.visibility.value
    )


def _page(group, offer, deal, form=None, status=200, rating_form=None):
    now = utcnow()
    count = service.count_of(db.session, deal)
    mine = service.commitment_of(db.session, deal, current_user)
    rating = service.rating_of(db.session, deal, current_user)
    counted = mine is not None and mine.active and mine.id in count.keys
    locale = str(get_locale())
    tiers = [
        {
            "needed": needed,
            "price": price_text(offer, deal.bid.tier_prices[index], locale),
            "reached": count.members >= needed,
        }
        for index, needed in enumerate(offer.tiers)
    ]
    return (
        render_template(
            "demand/deal.html",
            group=group,
            offer=offer,
            deal=deal,
            now=now,
            standing=service.standing_of(db.session, deal),
            price_now=price_text(offer, service.price_now(deal, count.members), locale),
            tipping_price=price_text(offer, deal.bid.price, locale),
            tiers=tiers,
            mine=mine if mine is not None and mine.active else None,
            counted=counted,
            form=form or _commit_form(deal),
            button=ConfirmForm(),
            company_k=current_charter(db.session, group).company_k,
            rating_form=rating_form or _rating_form(deal.went_ahead and counted, rating),
            rated=rating is not None,
        ),
        status,
    )


@bp.get("/groups/<slug>/offers/<int:number>/deal")
@for_group(policy.can_commit_to_deals, child=OFFER)
def deal(group, offer):
    return _page(group, offer, _deal_of(offer))


def _back(group, offer, anchor=""):
    return redirect(url_for("deals.deal", slug=group.slug, number=offer.number) + anchor)


def _refuse(error: service.DealError):
    db.session.rollback()
    conflict = service.CommitmentsClosed | service.AlreadyCommitted | service.Binding
    abort_with(409 if isinstance(error, conflict | service.NoCommitment) else 400, error.message)


@bp.post("/groups/<slug>/offers/<int:number>/deal/commit")
@for_group(policy.can_commit_to_deals, child=OFFER)
def commit(group, offer):
    deal = _deal_of(offer)
    form = _commit_form(deal)
    if form.validate_on_submit() and (values := form.values()) is not None:
        was_open = deal.status == DealStatus.OPEN
        try:
            service.commit(db.session, current_user, deal, values)
        except service.InvalidCommitment as error:
            db.session.rollback()
            form.show_errors(error.errors)
        except service.DealError as error:
            _refuse(error)
        else:
            db.session.commit()
            if was_open and deal.status == DealStatus.TIPPED:
                flash(
                    _("You are committed, and the deal goes ahead: enough members committed."),
                    "success",
                )
            elif deal.status == DealStatus.TIPPED:
                flash(_("You are committed to a deal that goes ahead: it binds you."), "success")
            else:
                flash(
                    _("You are committed. You may withdraw until the deal goes ahead."), "success"
                )
            return _back(group, offer, "#standing")
    db.session.rollback()
    return _page(group, offer, deal, form=form, status=400)


@bp.post("/groups/<slug>/offers/<int:number>/deal/withdraw")
@for_group(policy.can_commit_to_deals, child=OFFER)
def withdraw(group, offer):
    deal = _deal_of(offer)
    mine = service.commitment_of(db.session, deal, current_user)
    if mine is None or not mine.active:
        abort_with(409, service.NoCommitment.message)
    if deal.status != DealStatus.OPEN:
        abort_with(409, service.Binding.message)
    if not confirmed():
        return ask_first(
            title=_("Withdraw your commitment to “%(title)s”?", title=offer.title),
            consequences=[
                _("You no longer count towards the tipping point."),
                _(
                    "You may commit again until the end of %(date)s (UTC), while the deal has "
                    "not gone ahead.",
                    date=deal.last_day.isoformat(),
                ),
            ],
            confirm_label=_("Withdraw the commitment"),
            cancel_url=url_for("deals.deal", slug=group.slug, number=offer.number),
            back_label=_("Keep the commitment"),
        )
    try:
        service.withdraw(db.session, current_user, deal)
    except service.DealError as error:
        _refuse(error)
    db.session.commit()
    flash(_("Your commitment is withdrawn."), "info")
    return _back(group, offer)


@bp.post("/groups/<slug>/offers/<int:number>/deal/contact")
@for_group(policy.can_commit_to_deals, child=OFFER)
def contact(group, offer):
    deal = _deal_of(offer)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort_with(400, _("Reload the page and try again: this form has expired."))
    share = request.form.get("share")
    if share not in ("yes", "no"):
        abort_with(400, _("Choose yes or no."))
    try:
        service.share_contact(db.session, current_user, deal, share == "yes")
    except service.DealError as error:
        _refuse(error)
    db.session.commit()
    if share == "yes":
        flash(
            _("The company gets your name and email for this deal once it goes ahead."), "success"
        )
    else:
        flash(_("The company no longer gets your name and email."), "info")
    return _back(group, offer, "#mine")


@bp.post("/groups/<slug>/offers/<int:number>/deal/rating")
@for_group(policy.can_commit_to_deals, child=OFFER)
def rate(group, offer):
    deal = _deal_of(offer)
    if not service.can_rate(db.session, deal, current_user):
        abort_with(403, service.NotRatable.message)
    form = DealRatingForm()
    if form.validate_on_submit():
        rated_before = service.rating_of(db.session, deal, current_user) is not None
        try:
            service.rate(
                db.session,
                current_user,
                deal,
                rating=form.rating.data,
                body=form.body.data or "",
                visibility=form.visibility.data,
            )
            db.session.commit()
        except service.InvalidRating as error:
            db.session.rollback()
            target = getattr(form, error.field, None)
            (target.errors if target is not None else form.form_errors).append(error.message)
        except IntegrityError:  # the same member's other request rated it first
            db.session.rollback()
            abort_with(409, _("You have already rated this deal: reload the page to change it."))
        else:
            flash(
                _("Your rating is changed.")
                if rated_before
                else _("Thank you: your rating is saved."),
                "success",
            )
            return _back(group, offer, "#rating")
    db.session.rollback()
    return _page(group, offer, deal, status=400, rating_form=form)


def init_app(app) -> None:
    app.register_blueprint(bp)
