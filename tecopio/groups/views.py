from functools import partial

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from tecopio import policy
from tecopio.audit.services import group_events
from tecopio.db import db, utcnow
from tecopio.errors import abort_with
from tecopio.governance import decisions
from tecopio.governance.charters import GovernanceError, current_charter, current_charters
from tecopio.groups import personal, services
from tecopio.groups.forms import GroupDetailsForm, GroupForm, InviteForm
from tecopio.groups.models import Invitation, InvitationStatus, Membership, MembershipStatus
from tecopio.guards import Child, for_group, public, signed_in
from tecopio.mail import MailError, send_mail
from tecopio.privacy.services import current_consents
from tecopio.views import ask_first, confirmed, page_number, public_url, render_form

bp = Blueprint("groups", __name__)

MEMBER_ACTIONS = {
    "approve": (
        partial(decisions.admission_by_admin, admitted=True),
        _l("%(name)s is now a member."),
    ),
    "reject": (
        partial(decisions.admission_by_admin, admitted=False),
        _l("The request of %(name)s was declined."),
    ),
    "promote": (services.promote_member, _l("%(name)s is now an admin.")),
    "demote": (services.demote_member, _l("%(name)s is no longer an admin.")),
    "remove": (services.remove_member, _l("%(name)s was removed from the group.")),
}


def _ask_before_removing(group, membership):
    name = membership.user.display_name
    return ask_first(
        title=_("Remove %(name)s from %(group)s?", name=name, group=group.name),
        consequences=[
            _("%(name)s will no longer be a member and will be told.", name=name),
            _(
                "Their sharing with the group ends at once: from the group's next figures on, "
                "their data is no longer counted."
            ),
            _("They cannot rejoin on their own: an admin would have to invite them again."),
            _("The audit log records that you removed them."),
        ],
        confirm_label=_("Remove %(name)s", name=name),
        cancel_url=url_for("groups.members", slug=group.slug),
    )


def _ask_before_declining(group, membership):
    name = membership.user.display_name
    return ask_first(
        title=_("Decline the request of %(name)s?", name=name),
        consequences=[
            _(
                "%(name)s will not become a member of %(group)s and will be told.",
                name=name,
                group=group.name,
            ),
            _("They cannot ask again on their own: an admin can still invite them later."),
        ],
        confirm_label=_("Decline the request"),
        cancel_url=url_for("groups.members", slug=group.slug),
    )


ASK_FIRST = {"remove": _ask_before_removing, "reject": _ask_before_declining}


def _would_apply(action: str, membership: Membership) -> bool:
    """Only an action that can happen is asked about; any other is refused at once."""
    if action == "reject":
        return membership.status == MembershipStatus.PENDING
    return membership.is_active and not services.is_last_admin(db.session, membership)


@bp.get("/groups/")
@public
def index():
    query = request.args.get("q", "")
    page = page_number()
    per_page = current_app.config["GROUPS_PER_PAGE"]
    rows, total = services.search_groups(db.session, query, page=page, per_page=per_page)
    return render_template(
        "groups/index.html",
        rows=rows,
        charters=current_charters(db.session, [group.id for group, _count in rows]),
        total=total,
        query=query,
        page=page,
        per_page=per_page,
    )


@bp.route("/groups/new", methods=["GET", "POST"])
@signed_in
def create():
    form = GroupForm()
    if form.validate_on_submit():
        group = services.create_group(
            db.session,
            current_user,
            name=form.name.data,
            description=form.description.data,
            region=form.region.data,
            policy=form.membership_policy.data,
        )
        db.session.commit()
        flash(_("Your group is created. You are its first admin."), "success")
        return redirect(url_for("groups.show", slug=group.slug))
    return render_form("groups/form.html", form=form, group=None)


def _render_group_page(group, status: int = 200):
    membership = services.membership_of(db.session, current_user, group)
    return render_template(
        "groups/show.html",
        group=group,
        joining=current_charter(db.session, group).membership_policy,
        membership=membership,
        member_count=services.active_member_count(db.session, group),
    ), status


@bp.get("/groups/<slug>")
@for_group(policy.can_view_group, hide=True, login=False)
def show(group):
    return _render_group_page(group)


@bp.route("/groups/<slug>/edit", methods=["GET", "POST"])
@for_group(policy.can_edit_group)
def edit(group):
    form = GroupDetailsForm(obj=group)
    if form.validate_on_submit():
        services.update_group(
            db.session,
            current_user,
            group,
            name=form.name.data,
            description=form.description.data,
            region=form.region.data,
        )
        db.session.commit()
        flash(_("The group's details are saved."), "success")
        return redirect(url_for("groups.show", slug=group.slug))
    return render_form("groups/form.html", form=form, group=group)


@bp.post("/groups/<slug>/join")
@for_group(policy.can_join)
def join(group):
    try:
        membership = services.join_group(db.session, current_user, group)
        db.session.commit()
    except services.GroupError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_group_page(group, 409)
    except IntegrityError:
        # The same person joined in a concurrent request (a double click).
        db.session.rollback()
        flash(services.AlreadyMember.message, "error")
        return _render_group_page(group, 409)
    if membership.status == MembershipStatus.ACTIVE:
        flash(_("Welcome! You are now a member of %(group)s.", group=group.name), "success")
    else:
        flash(_("Your request to join was sent to the group's admins."), "success")
    return redirect(url_for("groups.show", slug=group.slug))


def _ask_before_leaving(group):
    sharing = sum(
        1
        for (group_id, _category), granted in current_consents(db.session, current_user).items()
        if group_id == group.id and granted
    )
    joining = current_charter(db.session, group).membership_policy
    return ask_first(
        title=_("Leave %(group)s?", group=group.name),
        consequences=[
            _("You will no longer be a member: no votes, no figures, no decisions."),
            ngettext(
                "Your %(num)d sharing choice with this group ends now. From the group's next "
                "figures on, your data is no longer counted.",
                "Your %(num)d sharing choices with this group end now. From the group's next "
                "figures on, your data is no longer counted.",
                sharing,
            )
            if sharing
            else _("You share nothing with this group, so its figures do not change."),
            _("Your own records stay in My data: nothing you wrote is deleted."),
            {
                "open": _("You can join again later."),
                "approval": _("To come back you would ask again, and an admin would decide."),
            }.get(joining, _("To come back you would need a new invitation.")),
        ],
        confirm_label=_("Leave the group"),
        cancel_url=url_for("groups.show", slug=group.slug),
        back_label=_("Stay in the group"),
    )


@bp.post("/groups/<slug>/leave")
@for_group(policy.can_leave)
def leave(group):
    membership = services.membership_of(db.session, current_user, group)
    # Only a departure that can happen is asked about; the last admin is refused at once.
    if (
        membership
        and membership.is_active
        and not services.is_last_admin(db.session, membership)
        and not confirmed()
    ):
        return _ask_before_leaving(group)
    try:
        membership = services.leave_group(db.session, current_user, group)
    except services.GroupError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_group_page(group, 409)
    db.session.commit()
    if membership.status == MembershipStatus.LEFT:
        flash(_("You are no longer part of %(group)s.", group=group.name), "info")
    return redirect(url_for("groups.show", slug=group.slug))


def _render_members(group, status: int = 200):
    show_requests = policy.can_see_join_requests(current_user, group)
    query, page = request.args.get("q", ""), page_number()
    per_page = current_app.config["MEMBERS_PER_PAGE"]
    members, total = services.list_memberships(
        db.session, group, MembershipStatus.ACTIVE, query=query, page=page, per_page=per_page
    )
    return render_template(
        "groups/members.html",
        group=group,
        admins_admit=decisions.admins_admit(current_charter(db.session, group)),
        admission_votes=decisions.open_admission_votes(db.session, group),
        members=members,
        total=total,
        query=query,
        page=page,
        per_page=per_page,
        member_count=services.active_member_count(db.session, group) if query else total,
        pending=(
            services.list_memberships(db.session, group, MembershipStatus.PENDING)
            if show_requests
            else []
        ),
    ), status


@bp.get("/groups/<slug>/members")
@for_group(policy.can_view_members)
def members(group):
    return _render_members(group)


@bp.post("/groups/<slug>/members/<int:membership_id>/<action>")
@for_group(
    policy.can_manage_members,
    child=Child(Membership, "membership_id", "membership"),
    choices=("action", lambda: MEMBER_ACTIONS),
)
def member_action(group, membership, action: str):
    service, message = MEMBER_ACTIONS[action]
    if action in ASK_FIRST and not confirmed() and _would_apply(action, membership):
        return ASK_FIRST[action](group, membership)
    try:
        service(db.session, current_user, membership)
    except (services.GroupError, GovernanceError) as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_members(group, 409)
    db.session.commit()
    flash(str(message) % {"name": membership.user.display_name}, "success")
    return redirect(url_for("groups.members", slug=group.slug))


@bp.route("/groups/<slug>/invitations", methods=["GET", "POST"])
@for_group(policy.can_invite)
def invitations(group):
    form = InviteForm()
    status = 200
    if form.validate_on_submit():
        try:
            invitation = services.invite(
                db.session,
                current_user,
                group,
                form.email.data,
                valid_days=current_app.config["INVITATION_VALID_DAYS"],
            )
        except services.GroupError as exc:
            db.session.rollback()
            form.email.errors.append(exc.message)
            status = 409
        else:
            db.session.commit()
            try:
                _send_invitation(invitation)
            except MailError:
                current_app.logger.exception("invitation mail not sent")
                flash(
                    _("The invitation is saved, but the email could not be sent. Try again later."),
                    "error",
                )
            else:
                flash(_("Invitation sent to %(email)s.", email=invitation.email), "success")
            return redirect(url_for("groups.invitations", slug=group.slug))
    elif request.method == "POST":
        status = 400
    return render_template(
        "groups/invitations.html",
        group=group,
        form=form,
        invitations=services.pending_invitations(db.session, group),
    ), status


def _send_invitation(invitation: Invitation) -> None:
    token = services.invitation_token(invitation, current_app.config["SECRET_KEY"])
    send_mail(
        invitation.email,
        _("You are invited to join %(group)s on Tecopio", group=invitation.group.name),
        "invitation",
        invitation=invitation,
        inviter=current_user,
        link=public_url("groups.invitation", token=token),
    )


@bp.post("/groups/<slug>/invitations/<int:invitation_id>/revoke")
@for_group(policy.can_invite, child=Child(Invitation, "invitation_id", "invitation"))
def revoke_invitation(group, invitation):
    # Only a withdrawal that can happen is asked about; an answered one is refused at once.
    if invitation.status == InvitationStatus.PENDING and not confirmed():
        return ask_first(
            title=_("Withdraw the invitation to %(email)s?", email=invitation.email),
            consequences=[
                _("The link in the invitation email stops working."),
                _("You can invite the same address again later."),
            ],
            confirm_label=_("Withdraw the invitation"),
            cancel_url=url_for("groups.invitations", slug=group.slug),
            back_label=_("Keep the invitation"),
        )
    try:
        services.revoke_invitation(db.session, current_user, invitation)
    except services.GroupError as exc:
        db.session.rollback()
        abort_with(409, exc.message)
    db.session.commit()
    flash(_("The invitation to %(email)s was withdrawn.", email=invitation.email), "info")
    return redirect(url_for("groups.invitations", slug=group.slug))


@bp.get("/groups/<slug>/audit")
@for_group(policy.can_view_audit_log)
def audit(group):
    page = page_number()
    events, total = group_events(db.session, group, page=page)
    return render_template("groups/audit.html", group=group, events=events, total=total, page=page)


def _invitation_or_error(token: str) -> Invitation:
    try:
        return services.invitation_from_token(db.session, token, current_app.config["SECRET_KEY"])
    except services.InvitationInvalid as exc:
        abort_with(404, exc.message)


@bp.get("/invitations/<token>")
@public
def invitation(token: str):
    invitation = _invitation_or_error(token)
    return render_template(
        "groups/invitation.html", invitation=invitation, token=token, now=utcnow()
    )


@bp.post("/invitations/<token>/<answer>")
@signed_in
def answer_invitation(token: str, answer: str):
    if answer not in ("accept", "decline"):
        abort(404)
    invitation = _invitation_or_error(token)
    try:
        if answer == "accept":
            services.accept_invitation(db.session, current_user, invitation)
        else:
            services.decline_invitation(db.session, current_user, invitation)
    except services.InvitationNotForYou as exc:
        db.session.rollback()
        abort_with(403, exc.message)
    except services.GroupError as exc:
        db.session.rollback()
        abort_with(400, exc.message)
    db.session.commit()
    if answer == "accept":
        flash(
            _("Welcome! You are now a member of %(group)s.", group=invitation.group.name), "success"
        )
        return redirect(url_for("groups.show", slug=invitation.group.slug))
    flash(_("You declined the invitation."), "info")
    return redirect(url_for("home.index"))


def init_app(app) -> None:
    app.register_blueprint(bp)
    personal.register()  # what it keeps about a person: export and erasure
