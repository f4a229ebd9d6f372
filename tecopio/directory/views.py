from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from tecopio import policy
from tecopio.categories.services import load_tree
from tecopio.db import db
from tecopio.directory import personal, services
from tecopio.directory.forms import CompanyForm, MergeForm
from tecopio.directory.models import Company
from tecopio.guards import platform, public
from tecopio.i18n import day as format_day
from tecopio.text import InvalidText
from tecopio.views import ask_first, confirmed, page_number, render_form

bp = Blueprint("directory", __name__)


@bp.get("/companies/")
@public
def index():
    query = request.args.get("q", "")
    page = page_number()
    companies, total = services.search_companies(db.session, query, page=page)
    return render_template(
        "directory/index.html", companies=companies, total=total, query=query, page=page
    )


@bp.get("/companies/<int:company_id>")
@public
def show(company_id: int):
    company = db.session.get(Company, company_id)
    if company is None:
        abort(404)
    if company.merged_into_id is not None:
        return redirect(url_for("directory.show", company_id=services.resolve(company).id), 301)
    return render_template("directory/show.html", company=company)


@bp.route("/companies/new", methods=["GET", "POST"])
@platform(policy.can_add_company)
def create():
    form = CompanyForm()
    locale = str(get_locale())
    form.sector_id.choices = [SelectChoice("", _("No particular sector"))] + [
        SelectChoice(str(root.id), root.label(locale)) for root in load_tree(db.session).roots
    ]
    if form.validate_on_submit():
        try:
            company = services.add_company(
                db.session,
                current_user,
                name=form.name.data,
                website=form.website.data,
                sector_id=form.sector_id.data,
            )
        except services.CompanyExists as exc:
            db.session.rollback()
            form.name.errors.append(exc.message)
        except InvalidText as exc:
            db.session.rollback()
            form.website.errors.append(exc.message)
        else:
            db.session.commit()
            flash(_("%(name)s is added to the directory.", name=company.name), "success")
            return redirect(url_for("directory.show", company_id=company.id))
    return render_form("directory/form.html", form=form)


def _company_facts(company: Company) -> str:
    parts = [company.name]
    if company.website:
        parts.append(company.website)
    if company.sector:
        parts.append(company.sector.label(str(get_locale())))
    parts.append(_("in the directory since %(date)s", date=format_day(company.created_at)))
    return " · ".join(parts)


def _ask_before_merging(source: Company, target: Company):
    return ask_first(
        title=_("Merge %(source)s into %(target)s?", source=source.name, target=target.name),
        details=[(_("Duplicate"), _company_facts(source)), (_("Kept"), _company_facts(target))],
        consequences=[
            _(
                "Members' preferences, purchase intents and feedback that name %(source)s "
                "will name %(target)s. Where a member liked one and avoided the other, their "
                "preference keeps one mention and they can see which in their activity.",
                source=source.name,
                target=target.name,
            ),
            _(
                "Links to %(source)s will lead to %(target)s.",
                source=source.name,
                target=target.name,
            ),
            _("%(source)s leaves the directory and its search.", source=source.name),
            _("This cannot be undone."),
        ],
        confirm_label=_("Merge for good"),
        cancel_url=url_for("directory.merge", source=source.id, target=target.id),
        back_label=_("Go back and change"),
    )


def _preselected(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


@bp.route("/admin/companies/merge", methods=["GET", "POST"])
@platform(policy.can_manage_directory)
def merge():
    form = MergeForm()
    if request.method == "GET":
        form.source_id.data = _preselected("source")
        form.target_id.data = _preselected("target")
    form.set_companies(services.active_companies(db.session))
    status = 200
    if form.validate_on_submit():
        source = db.session.get(Company, form.source_id.data)
        target = db.session.get(Company, form.target_id.data)
        if not confirmed():
            return _ask_before_merging(source, target)
        try:
            services.merge_companies(db.session, current_user, source, target)
        except services.InvalidMerge as exc:
            db.session.rollback()
            form.form_errors.append(exc.message)
            status = 400
        else:
            db.session.commit()
            flash(
                _("%(source)s is merged into %(target)s.", source=source.name, target=target.name),
                "success",
            )
            return redirect(url_for("directory.merge"))
    elif request.method == "POST":
        status = 400
    return render_template("directory/merge.html", form=form), status


def init_app(app) -> None:
    app.register_blueprint(bp)
    personal.register()  # what it keeps about a person: export and erasure
