from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from tecopio import policy
from tecopio.categories.services import load_tree
from tecopio.db import db
from tecopio.governance import services
from tecopio.governance.charter import BY_PATH, RULES, SECTIONS, diff, plain_value
from tecopio.governance.forms import charter_form, field_name
from tecopio.governance.models import CharterVersion
from tecopio.groups.services import get_group
from tecopio.views import render_form

bp = Blueprint("governance", __name__)


def _group(slug: str):
    group = get_group(db.session, slug)
    if group is None:
        abort(404)
    return group


def _category_label():
    locale = str(get_locale())
    tree = load_tree(db.session)
    return lambda slug: tree.by_slug[slug].label(locale) if slug in tree.by_slug else slug


def _sections(charter, label):
    """The rules in plain language, by section: [(section, [(rule label, value)])]."""
    sections: dict = {}
    for rule in RULES:
        sections.setdefault(rule.section, []).append(
            (str(rule.label), plain_value(rule, charter[rule.path], label))
        )
    return [(str(SECTIONS[name]), rules) for name, rules in sections.items()]


@bp.get("/groups/<slug>/charter")
@login_required
def charter(slug: str):
    group = _group(slug)
    policy.require(policy.can_view_charter(current_user, group))
    versions = services.history(db.session, group)
    charters = {version.number: services.charter_of(version) for version in versions}
    label = _category_label()
    changes = {
        version.number: [
            str(rule.label)
            for rule, _old, _new in diff(charters[version.number - 1], charters[version.number])
        ]
        for version in versions
        if version.number - 1 in charters
    }
    current = versions[0] if versions else None
    return render_template(
        "governance/charter.html",
        group=group,
        current=current,
        sections=_sections(charters[current.number], label) if current else [],
        versions=versions,
        changes=changes,
        can_change=policy.can_change_charter_directly(current_user, group),
        admins_decide=current is not None and services.admins_may_change(charters[current.number]),
    )


def _version_number(name: str) -> int:
    try:
        number = int(request.args.get(name, ""))
    except ValueError:
        abort(400)
    if not 1 <= number <= 1_000_000:
        abort(400)
    return number


@bp.get("/groups/<slug>/charter/diff")
@login_required
def compare(slug: str):
    group = _group(slug)
    policy.require(policy.can_view_charter(current_user, group))
    old_number, new_number = _version_number("from"), _version_number("to")
    found = {
        version.number: version
        for version in db.session.scalars(
            select(CharterVersion).where(
                CharterVersion.group_id == group.id,
                CharterVersion.number.in_([old_number, new_number]),
            )
        )
    }
    if old_number not in found or new_number not in found:
        abort(404)
    old, new = found[old_number], found[new_number]
    label = _category_label()
    rows = [
        (str(rule.label), plain_value(rule, before, label), plain_value(rule, after, label))
        for rule, before, after in diff(services.charter_of(old), services.charter_of(new))
    ]
    return render_template("governance/diff.html", group=group, old=old, new=new, rows=rows)


@bp.route("/groups/<slug>/charter/edit", methods=["GET", "POST"])
@login_required
def edit(slug: str):
    group = _group(slug)
    policy.require(policy.can_change_charter_directly(current_user, group))
    locale = str(get_locale())
    choices = [SelectChoice(root.slug, root.label(locale)) for root in load_tree(db.session).roots]
    charter = services.current_charter(db.session, group)
    form = charter_form(choices, charter)
    if form.validate_on_submit():
        try:
            version = services.change_by_admin(
                db.session, current_user, group, form.changes(), form.reason.data
            )
        except services.InvalidCharter as error:
            db.session.rollback()
            for path, message in error.errors.items():
                form[field_name(BY_PATH[path])].errors.append(message)
        except services.GovernanceError as error:
            db.session.rollback()
            form.form_errors.append(error.message)
        else:
            db.session.commit()
            flash(
                _("Version %(number)d of the charter is in force.", number=version.number),
                "success",
            )
            return redirect(url_for("governance.charter", slug=group.slug))
    sections: dict = {}
    for rule in RULES:
        sections.setdefault(rule.section, []).append(form[field_name(rule)])
    return render_form(
        "governance/edit.html",
        group=group,
        form=form,
        sections=[(str(SECTIONS[name]), fields) for name, fields in sections.items()],
    )


def init_app(app) -> None:
    app.register_blueprint(bp)
