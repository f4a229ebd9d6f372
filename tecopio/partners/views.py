"""The partner portal's own pages: registering a company, its details and its staff."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from tecopio import events, policy
from tecopio.audit.services import company_events
from tecopio.db import db, utcnow
from tecopio.demand.services import invited_offer_ids, offers_for_company
from tecopio.errors import abort_with
from tecopio.guards import for_company, platform, public, signed_in
from tecopio.mail import MailError, send_mail
from tecopio.partners import personal, services
from tecopio.partners.forms import CompanyDetailsForm, RegisterCompanyForm, StaffInviteForm
from tecopio.partners.models import CompanyStaff, StaffInvitation, StaffRole
from tecopio.text import InvalidText
from tecopio.views import ask_first, confirmed, page_number, public_url

bp = Blueprint("partners", __name__)


@bp.get("/partners/")
@signed_in
def index():
    return render_template(
        "partners/index.html", companies=services.companies_of(db.session, current_user)
    )


@bp.route("/partners/new", methods=["GET", "POST"])
@signed_in
def register():
    form = RegisterCompanyForm()
    status = 200
    if form.validate_on_submit():
        try:
            partner = services.register_company(
                db.session,
                current_user,
                name=form.name.data,
                description=form.description.data,
                website=form.website.data,
                contact_email=form.contact_email.data,
            )
        except services.AlreadyClaimed as exc:
            db.session.rollback()
            form.name.errors.append(exc.message)
            status = 409
        except InvalidText as exc:
            db.session.rollback()
            form.form_errors.append(exc.message)
            status = 400
        else:
            db.session.commit()
            flash(
                _(
                    "%(name)s is registered. The platform's operator checks new companies "
                    "before groups can invite them; you will see it here.",
                    name=partner.name,
                ),
                "success",
            )
            return redirect(url_for("partners.show", company=partner.slug))
    elif request.method == "POST":
        status = 400
    return render_template("partners/register.html", form=form), status


@bp.get("/partners/<company>")
@for_company(policy.can_use_partner_portal)
def show(partner):
    return render_template(
        "partners/show.html",
        partner=partner,
        invitations=offers_for_company(db.session, partner),
        now=utcnow(),
        staff=services.active_staff(db.session, partner),
    )


@bp.get("/partners/<company>/activity")
@for_company(policy.can_use_partner_portal)
def activity(partner):
    page = page_number()
    events_page, total = company_events(db.session, partner, invited_offer_ids(partner), page=page)
    return render_template(
        "partners/activity.html", partner=partner, events=events_page, total=total, page=page
    )


@bp.route("/partners/<company>/edit", methods=["GET", "POST"])
@for_company(policy.can_manage_company)
def edit(partner):
    form = CompanyDetailsForm(
        data={
            "description": partner.description,
            "website": partner.company.website,
            "contact_email": partner.contact_email,
        }
        if request.method == "GET"
        else None
    )
    status = 200
    if form.validate_on_submit():
        try:
            services.update_company(
                db.session,
                current_user,
                partner,
                description=form.description.data,
                website=form.website.data,
                contact_email=form.contact_email.data,
            )
        except InvalidText as exc:
            db.session.rollback()
            form.form_errors.append(exc.message)
            status = 400
        else:
            db.session.commit()
            flash(_("The company's details are saved."), "success")
            return redirect(url_for("partners.show", company=partner.slug))
    elif request.method == "POST":
        status = 400
    return render_template("partners/edit.html", partner=partner, form=form), status


@bp.route("/partners/<company>/staff", methods=["GET", "POST"])
@for_company(policy.can_manage_company)
def staff(partner):
    form = StaffInviteForm()
    status = 200
    if form.validate_on_submit():
        try:
            invitation = services.invite_staff(db.session, current_user, partner, form.email.data)
        except (services.PartnerError, InvalidText) as exc:
            db.session.rollback()
            form.email.errors.append(exc.message)
            status = 409 if isinstance(exc, services.PartnerError) else 400
        else:
            db.session.commit()
            try:
                _send_staff_invitation(invitation)
            except MailError:
                current_app.logger.exception("staff invitation mail not sent")
                flash(
                    _("The invitation is saved, but the email could not be sent. Try again later."),
                    "error",
                )
            else:
                flash(_("Invitation sent to %(email)s.", email=invitation.email), "success")
            return redirect(url_for("partners.staff", company=partner.slug))
    elif request.method == "POST":
        status = 400
    return render_template(
        "partners/staff.html",
        partner=partner,
        form=form,
        staff=services.active_staff(db.session, partner),
        invitations=services.pending_staff_invitations(db.session, partner),
    ), status


def _send_staff_invitation(invitation: StaffInvitation) -> None:
    token = services.staff_invitation_token(invitation, current_app.config["SECRET_KEY"])
    send_mail(
        invitation.email,
        _("You are invited to act for %(company)s on Tecopio", company=invitation.partner.name),
        "staff_invitation",
        invitation=invitation,
        inviter=current_user,
        link=public_url("partners.staff_invitation", token=token),
    )


def _staff_member(partner, staff_id: int) -> CompanyStaff:
    staff = db.session.get(CompanyStaff, staff_id)
    if staff is None or staff.partner_id != partner.id or not staff.active:
        abort_with(404, _("This person does not act for the company."))
    return staff


@bp.post("/partners/<company>/staff/<int:staff_id>/remove")
@for_company(policy.can_manage_company)
def remove_staff(partner, staff_id: int):
    staff = _staff_member(partner, staff_id)
    name = staff.user.display_name
    if not confirmed():
        return ask_first(
            title=_("Remove %(name)s from %(company)s?", name=name, company=partner.name),
            consequences=[
                _("%(name)s no longer acts for the company, from now on.", name=name),
                _("They no longer see its offers and bids."),
                _("You can invite them again later."),
            ],
            confirm_label=_("Remove %(name)s", name=name),
            cancel_url=url_for("partners.staff", company=partner.slug),
        )
    try:
        services.remove_staff(db.session, current_user, staff)
    except services.PartnerError as exc:
        db.session.rollback()
        abort_with(409, exc.message)
    db.session.commit()
    flash(_("%(name)s no longer acts for the company.", name=name), "success")
    if staff.user_id == current_user.id:
        return redirect(url_for("partners.index"))
    return redirect(url_for("partners.staff", company=partner.slug))


@bp.post("/partners/<company>/staff/<int:staff_id>/role")
@for_company(policy.can_manage_company)
def staff_role(partner, staff_id: int):
    staff = _staff_member(partner, staff_id)
    try:
        role = StaffRole(request.form.get("role", ""))
    except ValueError:
        abort_with(400, _("Choose owner or staff."))
    try:
        services.set_role(db.session, current_user, staff, role)
    except services.PartnerError as exc:
        db.session.rollback()
        abort_with(409, exc.message)
    db.session.commit()
    message = (
        _("%(name)s is now an owner.", name=staff.user.display_name)
        if role == StaffRole.OWNER
        else _("%(name)s is now staff.", name=staff.user.display_name)
    )
    flash(message, "success")
    return redirect(url_for("partners.staff", company=partner.slug))


@bp.post("/partners/<company>/staff-invitations/<int:invitation_id>/revoke")
@for_company(policy.can_manage_company)
def revoke_staff_invitation(partner, invitation_id: int):
    invitation = db.session.get(StaffInvitation, invitation_id)
    if invitation is None or invitation.partner_id != partner.id:
        abort_with(404, _("There is no such invitation."))
    try:
        services.revoke_staff_invitation(db.session, current_user, invitation)
    except services.PartnerError as exc:
        db.session.rollback()
        abort_with(409, exc.message)
    db.session.commit()
    flash(_("The invitation to %(email)s was withdrawn.", email=invitation.email), "info")
    return redirect(url_for("partners.staff", company=partner.slug))


def _staff_invitation_or_error(token: str) -> StaffInvitation:
    try:
        return services.staff_invitation_from_token(
            db.session, token, current_app.config["SECRET_KEY"]
        )
    except services.StaffInvitationInvalid as exc:
        abort_with(404, exc.message)


@bp.get("/partners/staff-invitations/<token>")
@public
def staff_invitation(token: str):
    invitation = _staff_invitation_or_error(token)
    return render_template("partners/staff_invitation.html", invitation=invitation, token=token)


@bp.post("/partners/staff-invitations/<token>")
@signed_in
def accept_staff_invitation(token: str):
    invitation = _staff_invitation_or_error(token)
    try:
        services.accept_staff_invitation(db.session, current_user, invitation)
    except services.StaffInvitationNotForYou as exc:
        db.session.rollback()
        abort_with(403, exc.message)
    except services.PartnerError as exc:
        db.session.rollback()
        abort_with(400, exc.message)
    db.session.commit()
    flash(_("You now act for %(company)s.", company=invitation.partner.name), "success")
    return redirect(url_for("partners.show", company=invitation.partner.slug))


@bp.post("/admin/partners/<company>/verify")
@platform(policy.can_verify_companies)
def verify(company: str):
    partner = services.get_partner(db.session, company)
    if partner is None:
        abort_with(404, _("There is no such company account."))
    try:
        services.verify_company(db.session, current_user, partner)
    except services.PartnerError as exc:
        db.session.rollback()
        abort_with(409, exc.message)
    db.session.commit()
    flash(
        _("%(name)s is verified: groups can now invite it to their offers.", name=partner.name),
        "success",
    )
    return redirect(url_for("home.operator"))


def init_app(app) -> None:
    app.register_blueprint(bp)
    personal.register()  # what it keeps about a person: export and erasure
    events.connect(events.companies_merging, services.move_partner_account)
