"""Bids: a company's answer in its portal, and the group's comparison and choice."""

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from tecopio import policy
from tecopio.db import db, utcnow
from tecopio.demand import bids as service
from tecopio.demand.forms import AwardForm, BidForm, ConfirmForm, DeclineForm
from tecopio.demand.models import BidStatus, DemandOffer, OfferStatus
from tecopio.demand.presentation import price_text, score_text
from tecopio.demand.services import CRITERIA, invitation_for
from tecopio.errors import abort_with
from tecopio.governance.charters import GovernanceError, current_charter
from tecopio.groups.services import get_group
from tecopio.guards import Child, for_company, for_group
from tecopio.money import plain_amount
from tecopio.views import ask_first, confirmed, render_form

bp = Blueprint("bids", __name__)
OFFER = Child(DemandOffer, "number", "offer", by="number")
# The bids of an offer, for people with no stake in it (no staff of a company invited).
OFFER_BIDS = Child(DemandOffer, "number", "offer", by="number", check=policy.has_no_stake_in)
NONE = "none"
# An id or a score as a form sends it: plain digits, short enough to be a number we store.
WHOLE = re.compile(r"[0-9]{1,9}")
# An offer's bids exist from publication on; drafts, proposals and the like have none.
WITH_BIDS = (
    OfferStatus.PUBLISHED,
    OfferStatus.CLOSED,
    OfferStatus.AWARDED,
    OfferStatus.NOT_AWARDED,
)


def _invited_offer(partner, group_slug: str, number: int) -> DemandOffer:
    """The offer, if this company was invited to it; for any other company it is not there."""
    group = get_group(db.session, group_slug)
    invitation = invitation_for(db.session, partner, group, number) if group else None
    if invitation is None:
        abort_with(404, _("There is no such offer."))
    return invitation.offer


def _back(partner, offer):
    return redirect(
        url_for(
            "demand.company_offer",
            company=partner.slug,
            group_slug=offer.group.slug,
            number=offer.number,
        )
    )


def _refuse(error: service.BidError):
    db.session.rollback()
    status = 409 if isinstance(error, service.BiddingClosed | service.AlreadyBid) else 400
    if isinstance(error, service.NoStandingBid | service.NotDecidable | service.VoteRunning):
        status = 409
    abort_with(status, error.message)


def _bid_form(offer, bid=None) -> BidForm:
    tiers = len(offer.tiers)
    if request.method == "POST":
        form = BidForm()
    elif bid is not None and bid.standing:
        amount = (
            (lambda v: plain_amount(v, "EUR"))  # basis points read as "12.50"
            if offer.price_basis.value == "discount"
            else (lambda v: plain_amount(v, bid.currency))
        )
        form = BidForm(
            data={
                "terms_answer": bid.terms_answer.value if bid.terms_answer else "accept",
                "counter_term": bid.counter_term,
                "currency": bid.currency,
                "price": amount(bid.price),
                "tier_prices": [amount(p) for p in bid.tier_prices],
                "fee_kind": bid.fee_kind.value if bid.fee_kind else "per_member",
                "fee": plain_amount(bid.fee or 0, bid.currency),
                "conditions": bid.conditions,
                "warranty_months": bid.warranty_months,
                "statement_local": bid.statements.get("local", ""),
                "statement_renewable": bid.statements.get("renewable", ""),
                "statement_service": bid.statements.get("service", ""),
                "valid_until": bid.valid_until,
            }
        )
    else:
        form = BidForm(
            data={
                "terms_answer": "accept",
                "currency": offer.currency,
                "fee_kind": "per_member",
                "fee": "0",
                "valid_until": service.suggested_validity(db.session, offer),
            }
        )
    form.currency.choices = [(offer.currency, offer.currency)]
    form.valid_until.description = _(
        "Prices hold until this day, while the group compares and decides: from %(earliest)s "
        "to %(latest)s.",
        earliest=format_date(service.earliest_validity(db.session, offer)),
        latest=format_date(service.latest_validity(offer)),
    )
    while len(form.tier_prices) < tiers:
        form.tier_prices.append_entry()
    while len(form.tier_prices) > tiers:
        form.tier_prices.pop_entry()
    for entry, tier in zip(form.tier_prices, offer.tiers, strict=True):
        entry.label.text = _("Price at %(num)d committed members", num=tier)
    if offer.price_basis.value == "discount":
        form.price.label.text = _("Discount at the tipping point (%)")
    return form


def _render_bid_form(partner, offer, form, bid):
    return render_form(
        "demand/bid_form.html",
        partner=partner,
        group=offer.group,
        offer=offer,
        form=form,
        bid=bid,
        criteria=CRITERIA,
        earliest=service.earliest_validity(db.session, offer),
    )


def _take_bid_form(partner, offer, bid, save, done: str):
    """The bid form: shown, or submitted to ``save`` (submit or update); errors on the form."""
    form = _bid_form(offer, bid)
    if form.validate_on_submit():
        values = form.bid_values(offer.price_basis.value)
        if values is not None:
            try:
                save(db.session, current_user, partner, offer, values)
            except service.InvalidBid as error:
                db.session.rollback()
                form.show_errors(error.errors)
            except service.BidError as error:
                _refuse(error)
            else:
                db.session.commit()
                flash(done, "success")
                return _back(partner, offer)
    return _render_bid_form(partner, offer, form, bid)


@bp.route("/partners/<company>/offers/<group_slug>/<int:number>/bid", methods=["GET", "POST"])
@for_company(policy.can_bid)
def new_bid(partner, group_slug: str, number: int):
    offer = _invited_offer(partner, group_slug, number)
    bid = service.bid_of(db.session, offer, partner)
    if not offer.is_open_for_bids(utcnow()):
        abort_with(409, service.BiddingClosed.message)
    if request.method == "GET" and bid is not None and bid.standing:
        return redirect(
            url_for("bids.edit_bid", company=partner.slug, group_slug=group_slug, number=number)
        )
    return _take_bid_form(
        partner,
        offer,
        None,
        service.submit_bid,
        _(
            "Your bid is in. You may change or withdraw it until the end of "
            "%(date)s (UTC); the group sees bids once bidding closes.",
            date=offer.last_bidding_day.isoformat(),
        ),
    )


@bp.route("/partners/<company>/offers/<group_slug>/<int:number>/bid/edit", methods=["GET", "POST"])
@for_company(policy.can_bid)
def edit_bid(partner, group_slug: str, number: int):
    offer = _invited_offer(partner, group_slug, number)
    bid = service.bid_of(db.session, offer, partner)
    if not offer.is_open_for_bids(utcnow()):
        abort_with(409, service.BiddingClosed.message)
    if bid is None or not bid.standing:
        abort_with(409, service.NoStandingBid.message)
    return _take_bid_form(partner, offer, bid, service.update_bid, _("Your bid is changed."))


@bp.post("/partners/<company>/offers/<group_slug>/<int:number>/bid/withdraw")
@for_company(policy.can_bid)
def withdraw_bid(partner, group_slug: str, number: int):
    offer = _invited_offer(partner, group_slug, number)
    if not offer.is_open_for_bids(utcnow()):
        abort_with(409, service.BiddingClosed.message)
    bid = service.bid_of(db.session, offer, partner)
    if bid is None or not bid.standing:
        abort_with(409, service.NoStandingBid.message)
    if not confirmed():
        return ask_first(
            title=_("Withdraw your bid on “%(title)s”?", title=offer.title),
            consequences=[
                _("The group will not compare it or choose it."),
                _(
                    "You may bid again until the end of %(date)s (UTC).",
                    date=offer.last_bidding_day.isoformat(),
                ),
            ],
            confirm_label=_("Withdraw the bid"),
            cancel_url=url_for(
                "demand.company_offer", company=partner.slug, group_slug=group_slug, number=number
            ),
            back_label=_("Keep the bid"),
        )
    try:
        service.withdraw_bid(db.session, current_user, partner, offer)
    except service.BidError as error:
        _refuse(error)
    db.session.commit()
    flash(_("Your bid is withdrawn."), "info")
    return _back(partner, offer)


@bp.route("/partners/<company>/offers/<group_slug>/<int:number>/decline", methods=["GET", "POST"])
@for_company(policy.can_bid)
def decline(partner, group_slug: str, number: int):
    offer = _invited_offer(partner, group_slug, number)
    if not offer.is_open_for_bids(utcnow()):
        abort_with(409, service.BiddingClosed.message)
    bid = service.bid_of(db.session, offer, partner)
    if bid is not None and bid.standing:
        abort_with(409, service.StandingBid.message)
    form = DeclineForm()
    if form.validate_on_submit():
        try:
            service.decline_offer(db.session, current_user, partner, offer, form.reason.data)
        except service.InvalidBid as error:
            db.session.rollback()
            form.reason.errors = [*form.reason.errors, *error.errors.values()]
        except service.BidError as error:
            _refuse(error)
        else:
            db.session.commit()
            flash(_("The group is told your company does not bid."), "info")
            return _back(partner, offer)
    return render_form(
        "demand/decline_form.html", partner=partner, group=offer.group, offer=offer, form=form
    )


def _comparison_rows(offer, comparison, locale):
    rows = []
    for ranked in comparison.ranked:
        bid = comparison.bids[ranked.key]
        rows.append(
            {
                "bid": bid,
                "price": price_text(offer, bid.price, locale),
                "tiers": [price_text(offer, p, locale) for p in bid.tier_prices],
                "scores": {key: score_text(value, locale) for key, value in ranked.scores.items()},
                "raw": {s.criterion: s.score for s in bid.scores},
                "total": score_text(ranked.total, locale),
                "winner": ranked.key == comparison.winner,
            }
        )
    return rows


@bp.get("/groups/<slug>/offers/<int:number>/bids")
@for_group(policy.can_compare_bids, child=OFFER_BIDS)
def compare(group, offer):
    return _compare_page(group, offer)


def _compare_page(group, offer, award_form=None, status=200):
    if offer.status not in WITH_BIDS:
        abort_with(404, _("There is no such offer."))
    now = utcnow()
    sealed = offer.is_open_for_bids(now)
    answers = service.bids_on(db.session, offer)
    context = {
        "group": group,
        "offer": offer,
        "criteria": CRITERIA,
        "now": now,
        "sealed": sealed,
        "standing_count": len([b for b in answers if b.standing]),
        "declined": [b for b in answers if b.status == BidStatus.DECLINED],
        "admins_accept": service.admins_accept(current_charter(db.session, group)),
        "running_vote": service.open_award_vote(db.session, offer),
        "awarded": service.awarded_bid(db.session, offer),
    }
    if not sealed:
        locale = str(get_locale())
        comparison = service.compare(db.session, offer)
        context.update(
            comparison=comparison,
            rows=_comparison_rows(offer, comparison, locale),
            hand_scored=service.hand_scored(offer),
            winner=comparison.bids.get(comparison.winner),
            nudges=[
                (n, comparison.bids[n.winner] if n.winner is not None else None)
                for n in comparison.nudges
            ],
            score_form=ConfirmForm(),
            award_form=_award_form(offer, comparison, context["admins_accept"], award_form),
        )
    return render_template("demand/bids.html", **context), status


def _award_form(offer, comparison, by_admins: bool, form=None) -> AwardForm:
    """Bids that still hold when the decision takes effect (now, or when a vote would end);
    the others are listed, not offered."""
    form = form or AwardForm()
    until = service.decision_day(db.session, offer, by_admins)
    form.choice.choices = [
        (str(r.key), comparison.bids[r.key].partner.name)
        for r in comparison.ranked
        if comparison.bids[r.key].valid_until >= until
    ]
    form.choice.choices.append((NONE, _("No bid: the group awards nothing")))
    form.expired = [
        comparison.bids[r.key]
        for r in comparison.ranked
        if comparison.bids[r.key].valid_until < until
    ]
    form.decide_by = until
    return form


def _scores_from_form(offer) -> dict[int, dict[str, int]]:
    """``score-<bid>-<criterion>`` fields; a blank one clears the score, anything else but a
    whole number is refused."""
    scores: dict[int, dict[str, int | None]] = {}
    for name, value in request.form.items():
        if not name.startswith("score-"):
            continue
        parts = name.split("-")
        value = value.strip()
        if len(parts) != 3 or not WHOLE.fullmatch(parts[1]):
            abort_with(400, service.NotAStandingBid.message)
        if value and not WHOLE.fullmatch(value):
            abort_with(400, service.InvalidScore.message)
        scores.setdefault(int(parts[1]), {})[parts[2]] = int(value) if value else None
    return scores


@bp.post("/groups/<slug>/offers/<int:number>/bids/scores")
@for_group(policy.can_decide_on_bids, child=OFFER_BIDS)
def score(group, offer):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort_with(400, _("Reload the page and try again: this form has expired."))
    try:
        changed = service.score_bids(db.session, current_user, offer, _scores_from_form(offer))
    except service.BidError as error:
        _refuse(error)
    db.session.commit()
    if changed:
        flash(_("Scores saved: the comparison below counts them."), "success")
    else:
        flash(_("No score changed."), "info")
    return redirect(url_for("bids.compare", slug=group.slug, number=offer.number) + "#ranking")


@bp.post("/groups/<slug>/offers/<int:number>/decide")
@for_group(policy.can_decide_on_bids, child=OFFER_BIDS)
def decide(group, offer):
    choice = request.form.get("choice", "")
    if choice != NONE and not WHOLE.fullmatch(choice):
        undecided = offer.status in (OfferStatus.PUBLISHED, OfferStatus.CLOSED)
        if not undecided or offer.is_open_for_bids(utcnow()):
            abort_with(409, service.NotDecidable.message)
        form = AwardForm()
        form.choice.errors = [_("Choose a bid, or no bid.")]
        return _compare_page(group, offer, award_form=form, status=400)
    bid_id = None if choice == NONE else int(choice)
    by_admins = service.admins_accept(current_charter(db.session, group))
    if by_admins and not confirmed():
        bid = next((b for b in service.bids_on(db.session, offer) if b.id == bid_id), None)
        if bid_id is not None and (bid is None or not bid.standing):
            abort_with(400, service.NotAStandingBid.message)
        title = (
            _("Accept the bid of %(company)s?", company=bid.partner.name)
            if bid
            else _("Accept no bid on “%(title)s”?", title=offer.title)
        )
        return ask_first(
            title=title,
            consequences=[
                _("This is the group's decision: it cannot be undone."),
                _("Every invited company is told the outcome."),
                _("A deal members can commit to follows an accepted bid.")
                if bid
                else _("No deal follows this offer."),
            ],
            confirm_label=_("Accept the bid") if bid else _("Accept no bid"),
            cancel_url=url_for("bids.compare", slug=group.slug, number=offer.number),
            danger=False,
        )
    try:
        if by_admins:
            service.decide_by_admin(db.session, current_user, offer, bid_id)
        else:
            proposal = service.propose_award(db.session, current_user, offer, bid_id)
    except GovernanceError as error:
        _refuse(error)
    db.session.commit()
    if by_admins:
        flash(_("Decided. Every invited company is told."), "success")
        return redirect(url_for("bids.compare", slug=group.slug, number=offer.number))
    flash(_("The members now vote on it."), "success")
    return redirect(url_for("governance.proposal", slug=group.slug, number=proposal.number))


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["bid_price"] = lambda offer, value: price_text(
        offer, value, str(get_locale())
    )
