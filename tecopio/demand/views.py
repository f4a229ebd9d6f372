"""Demand offers: the group's pages (members read, admins build and publish) and the page an
invited company reads in its portal."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from tecopio import jobs, policy
from tecopio.categories.services import load_tree
from tecopio.db import db, utcnow
from tecopio.demand import bid_views, bids, deal_views, deals, personal, services
from tecopio.demand.forms import DEFAULT_TERMS, InviteCompaniesForm, OfferForm
from tecopio.demand.kinds import register_kinds
from tecopio.demand.models import DemandOffer, OfferStatus
from tecopio.demand.presentation import demand_rows, window_rows
from tecopio.errors import abort_with
from tecopio.governance.charters import current_charter
from tecopio.groups.services import get_group
from tecopio.guards import Child, for_company, for_group
from tecopio.views import ask_first, confirmed, render_form

bp = Blueprint("demand", __name__)
OFFER = Child(DemandOffer, "number", "offer", by="number")
CLOSE_JOB = "demand.close_due_offers"
DEALS_JOB = "demand.close_due_deals"


def _category_choices(group):
    charter = current_charter(db.session, group)
    locale = str(get_locale())
    return [
        (root.id, root.label(locale))
        for root in load_tree(db.session).roots
        if charter.allows_category(root.slug)
    ]


def _offer_form(group, offer: DemandOffer | None = None) -> OfferForm:
    if request.method == "GET":
        if offer is None:
            data = {
                "terms": str(DEFAULT_TERMS),
                "tipping_point": current_charter(db.session, group).company_k,
                "weight_price": 50,
                "weight_conditions": 20,
            }
        else:
            data = {
                "title": offer.title,
                "category_id": offer.category_id,
                "terms": offer.terms,
                "tipping_point": offer.tipping_point,
                "tiers": ", ".join(str(t) for t in offer.tiers),
                "deadline": offer.last_bidding_day,
                "price_basis": offer.price_basis.value,
                "currency": offer.currency,
                "unit_label": offer.unit_label,
                **{f"weight_{c['key']}": c["weight"] for c in offer.criteria},
            }
        form = OfferForm(data=data)
    else:
        form = OfferForm()
    form.category_id.choices = _category_choices(group)
    return form


@bp.get("/groups/<slug>/offers")
@for_group(policy.can_view_offers)
def offers(group):
    admin = policy.can_manage_offers(current_user, group)
    return render_template(
        "demand/offers.html",
        group=group,
        offers=services.offers_of(db.session, group, drafts=admin),
        now=utcnow(),
    )


@bp.route("/groups/<slug>/offers/new", methods=["GET", "POST"])
@for_group(policy.can_manage_offers)
def new_offer(group):
    form = _offer_form(group)
    if form.validate_on_submit():
        try:
            offer = services.create_offer(db.session, current_user, group, **form.values())
        except services.InvalidOffer as exc:
            db.session.rollback()
            form.show_errors(exc.errors)
        else:
            db.session.commit()
            flash(
                _("Draft saved. Check the figures companies would see, then publish it."),
                "success",
            )
            return redirect(url_for("demand.offer", slug=group.slug, number=offer.number))
    return render_form(
        "demand/offer_form.html", group=group, form=form, offer=None, criteria=services.CRITERIA
    )


@bp.route("/groups/<slug>/offers/<int:number>/edit", methods=["GET", "POST"])
@for_group(policy.can_manage_offers, child=OFFER)
def edit_offer(group, offer):
    if offer.status != OfferStatus.DRAFT:
        abort_with(409, services.NotADraft.message)
    form = _offer_form(group, offer)
    if form.validate_on_submit():
        try:
            services.update_offer(db.session, current_user, offer, **form.values())
        except services.InvalidOffer as exc:
            db.session.rollback()
            form.show_errors(exc.errors)
        else:
            db.session.commit()
            flash(_("Draft saved."), "success")
            return redirect(url_for("demand.offer", slug=group.slug, number=offer.number))
    return render_form(
        "demand/offer_form.html", group=group, form=form, offer=offer, criteria=services.CRITERIA
    )


def _figures(offer: DemandOffer, snapshot: dict | None):
    if snapshot is None:
        return None
    locale = str(get_locale())
    return {
        "k": snapshot["k"],
        "demand": demand_rows(snapshot, load_tree(db.session), locale),
        "windows": window_rows(snapshot, locale),
    }


@bp.get("/groups/<slug>/offers/<int:number>")
@for_group(policy.can_view_offers, child=OFFER)
def offer(group, offer):
    admin = policy.can_manage_offers(current_user, group)
    if offer.status in (OfferStatus.DRAFT, OfferStatus.CANCELLED) and not admin:
        abort_with(404, _("There is no such offer."))
    preview = offer.status in (OfferStatus.DRAFT, OfferStatus.PROPOSED)
    snapshot = services.preview_snapshot(db.session, offer) if preview else offer.snapshot
    invite_form = None
    invitable = []
    now = utcnow()
    if admin and offer.is_open_for_bids(now):
        invited = {i.partner_id for i in offer.invitations}
        invitable = [
            p for p in services.invitable_companies(db.session, group) if p.id not in invited
        ]
        invite_form = InviteCompaniesForm()
        invite_form.partner_ids.choices = [(p.id, p.name) for p in invitable]
    return render_template(
        "demand/offer.html",
        group=group,
        offer=offer,
        figures=_figures(offer, snapshot),
        preview=preview,
        criteria=services.CRITERIA,
        invitations=services.invited_companies(db.session, offer),
        invite_form=invite_form,
        admins_publish=services.admins_publish(current_charter(db.session, group)),
        standing_bids=bids.standing_bid_count(db.session, offer),
        now=now,
    )


@bp.post("/groups/<slug>/offers/<int:number>/publish")
@for_group(policy.can_manage_offers, child=OFFER)
def publish(group, offer):
    if offer.status != OfferStatus.DRAFT:
        abort_with(409, services.NotADraft.message)
    if not services.admins_publish(current_charter(db.session, group)):
        abort_with(409, services.PublishedByVote.message)
    if not confirmed():
        return ask_first(
            title=_(
                "Publish offer %(number)s, “%(title)s”?", number=offer.number, title=offer.title
            ),
            consequences=[
                _(
                    "Its figures are frozen as companies see them now: later changes to members' "
                    "data never change them."
                ),
                _("Its terms, criteria, tipping point and deadline can no longer be changed."),
                _("You can then invite companies to bid until the deadline."),
            ],
            confirm_label=_("Publish the offer"),
            cancel_url=url_for("demand.offer", slug=group.slug, number=offer.number),
            danger=False,
        )
    try:
        services.publish_offer(db.session, current_user, offer)
    except services.OfferError as exc:
        db.session.rollback()
        abort_with(409, exc.message)
    db.session.commit()
    flash(
        _("The offer is published. Invite the companies the group wants to hear from."), "success"
    )
    return redirect(url_for("demand.offer", slug=group.slug, number=offer.number))


@bp.post("/groups/<slug>/offers/<int:number>/propose")
@for_group(policy.can_manage_offers, child=OFFER)
def propose(group, offer):
    try:
        proposal = services.propose_offer(db.session, current_user, offer)
    except services.OfferError as exc:
        db.session.rollback()
        abort_with(409, exc.message)
    db.session.commit()
    flash(_("The members now vote on publishing this offer."), "success")
    return redirect(url_for("governance.proposal", slug=group.slug, number=proposal.number))


@bp.post("/groups/<slug>/offers/<int:number>/cancel")
@for_group(policy.can_manage_offers, child=OFFER)
def cancel(group, offer):
    if offer.status != OfferStatus.DRAFT:
        abort_with(409, services.NotADraft.message)
    if not confirmed():
        return ask_first(
            title=_("Cancel the draft offer “%(title)s”?", title=offer.title),
            consequences=[
                _("The draft is set aside: it cannot be published any more."),
                _("Nobody outside the group's admins ever saw it."),
            ],
            confirm_label=_("Cancel the draft"),
            cancel_url=url_for("demand.offer", slug=group.slug, number=offer.number),
            back_label=_("Keep the draft"),
        )
    services.cancel_offer(db.session, current_user, offer)
    db.session.commit()
    flash(_("The draft offer was cancelled."), "info")
    return redirect(url_for("demand.offers", slug=group.slug))


@bp.post("/groups/<slug>/offers/<int:number>/invite")
@for_group(policy.can_manage_offers, child=OFFER)
def invite(group, offer):
    form = InviteCompaniesForm()
    form.partner_ids.choices = []
    if not form.validate_on_submit():
        abort_with(400, _("Reload the page and try again: this form has expired."))
    try:
        made = services.invite_companies(
            db.session, current_user, offer, form.partner_ids.data or []
        )
    except services.OfferError as exc:
        db.session.rollback()
        abort_with(409 if isinstance(exc, services.NotOpenForInvitations) else 400, exc.message)
    db.session.commit()
    names = ", ".join(invitation.partner.name for invitation in made)
    if made:
        flash(_("Invited: %(names)s. Their staff are told.", names=names), "success")
    else:
        flash(_("Those companies were already invited."), "info")
    return redirect(url_for("demand.offer", slug=group.slug, number=offer.number))


@bp.get("/partners/<company>/offers/<group_slug>/<int:number>")
@for_company(policy.can_use_partner_portal)
def company_offer(partner, group_slug: str, number: int):
    group = get_group(db.session, group_slug)
    invitation = services.invitation_for(db.session, partner, group, number) if group else None
    if invitation is None:  # not invited: for this company the offer is not there
        abort_with(404, _("There is no such offer."))
    offer = invitation.offer
    return render_template(
        "demand/company_offer.html",
        partner=partner,
        group=group,
        offer=offer,
        figures=_figures(offer, offer.snapshot),
        criteria=services.CRITERIA,
        bid=bids.bid_of(db.session, offer, partner),
        deal=_company_deal(offer, partner),
        now=utcnow(),
    )


def _company_deal(offer, partner) -> dict | None:
    """What the company sees of its deal: the figures told it, and the contacts shared."""
    deal = deals.deal_of(db.session, offer)
    if deal is None or deal.partner_id != partner.id:
        return None
    return {
        "deal": deal,
        "contacts": deals.contacts(db.session, deal),
        "price": bid_views.price_text(
            offer, deals.price_now(deal, deal.told_members), str(get_locale())
        ),
    }


def init_app(app) -> None:
    register_kinds()
    app.register_blueprint(bp)
    bid_views.init_app(app)
    deal_views.init_app(app)
    jobs.register(app, DEALS_JOB, deals.close_due_deals, every_minutes=5)
    personal.register()  # what it keeps about a person: export and erasure
    jobs.register(app, CLOSE_JOB, services.close_due_offers, every_minutes=5)
