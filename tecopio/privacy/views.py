"""My data: the member's complete picture, consent, export, import and erasure."""

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from tecopio.accounts.passwords import verify_password
from tecopio.audit.services import record
from tecopio.categories.services import load_tree
from tecopio.db import db, utcnow
from tecopio.groups.models import MembershipStatus
from tecopio.groups.services import memberships_of_user
from tecopio.guards import signed_in
from tecopio.limiter import configured, limiter
from tecopio.memberdata.imports import COLUMNS, ImportFailed, import_csv, template_csv
from tecopio.memberdata.vocab import UNITS, VALUES
from tecopio.privacy import personal, records, services
from tecopio.privacy.forms import EraseForm, ImportForm
from tecopio.privacy.registry import personal_data
from tecopio.views import render_form

bp = Blueprint("privacy", __name__, url_prefix="/my")


@bp.get("/data")
@signed_in
def my_data():
    data = records.member_record(db.session, current_user)
    return render_template(
        "privacy/my_data.html",
        data=data,
        tree=load_tree(db.session),
        locale=str(get_locale()),
        value_labels=VALUES,
        unit_labels=UNITS,
    )


def _active_groups():
    return [
        m.group
        for m in memberships_of_user(db.session, current_user)
        if m.status == MembershipStatus.ACTIVE
    ]


@bp.route("/consent", methods=["GET", "POST"])
@signed_in
def consent():
    groups = _active_groups()
    tree = load_tree(db.session)
    if request.method == "POST":
        changed = 0
        for group in groups:
            for root in tree.roots:
                key = f"consent-{group.id}-{root.id}"
                if f"shown-{group.id}-{root.id}" not in request.form:
                    continue
                event = services.set_consent(
                    db.session, current_user, group, root, key in request.form
                )
                changed += event is not None
        db.session.commit()
        flash(
            _("Your choices are saved and apply at once.") if changed else _("Nothing changed."),
            "success" if changed else "info",
        )
        return redirect(url_for("privacy.consent"))
    return render_template(
        "privacy/consent.html",
        groups=groups,
        roots=tree.roots,
        current=services.current_consents(db.session, current_user),
        locale=str(get_locale()),
    )


@bp.post("/export")
@signed_in
def export():
    data = records.export_data(db.session, current_user)
    record(db.session, "data.exported", actor=current_user, target_user=current_user)
    db.session.commit()
    filename = f"tecopio-data-{utcnow():%Y-%m-%d}.zip"
    return Response(
        records.export_zip(data),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/import", methods=["GET", "POST"])
@signed_in
def import_data():
    form = ImportForm()
    errors = []
    if form.validate_on_submit():
        try:
            count = import_csv(db.session, current_user, form.kind.data, form.file.data.read())
        except ImportFailed as exc:
            db.session.rollback()
            errors = exc.errors
        else:
            db.session.commit()
            flash(
                ngettext("%(num)d item imported.", "%(num)d items imported.", count),
                "success",
            )
            page = (
                "memberdata.preferences"
                if form.kind.data == "preferences"
                else "memberdata.intents"
            )
            return redirect(url_for(page))
    return render_form("privacy/import.html", form=form, errors=errors, columns=COLUMNS)


@bp.get("/import/template-<kind>.csv")
@signed_in
def import_template(kind: str):
    if kind not in COLUMNS:
        abort(404)
    return Response(
        template_csv(kind),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="tecopio-{kind}.csv"'},
    )


@bp.route("/erase", methods=["GET", "POST"])
@signed_in
@limiter.limit(configured("LOGIN_RATE_LIMIT"), methods=["POST"])
def erase():
    form = EraseForm()
    blocking = records.groups_blocking_erasure(db.session, current_user)
    if form.validate_on_submit():
        if not verify_password(current_user.password_hash, form.password.data):
            form.password.errors.append(_("The password is not correct."))
        elif not blocking:
            records.erase_account(db.session, current_user._get_current_object())
            db.session.commit()
            logout_user()
            flash(_("Your account and your personal data are erased."), "info")
            return redirect(url_for("home.index"))
    page = {"form": form, "blocking": blocking, "personal_data": personal_data()}
    if blocking and request.method == "POST":
        return render_template("privacy/erase.html", **page), 409
    return render_form("privacy/erase.html", **page)


def init_app(app) -> None:
    app.register_blueprint(bp)
    services.init_app(app)
    personal.register()  # what it keeps about a person: export and erasure
