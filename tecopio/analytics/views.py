from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from tecopio import events, policy
from tecopio.analytics import cache, company, jobs, personal
from tecopio.analytics.cache import release_state, released_filters, released_page
from tecopio.analytics.forms import FILTER_KINDS, FilterForm
from tecopio.analytics.jobs import request_release
from tecopio.analytics.presentation import build_figures, figure_csv, localise
from tecopio.analytics.queries import Filters
from tecopio.categories.services import load_tree
from tecopio.db import db
from tecopio.governance.charters import current_charter
from tecopio.guards import for_group

bp = Blueprint("analytics", __name__)
RECOUNT_RELOAD_SECONDS = 5


def _load(group):
    """The release state, the group's page for the query string's filters, and the form."""
    locale = str(get_locale())
    tree = load_tree(db.session)
    form = FilterForm(request.args)
    charter = current_charter(db.session, group)
    state = release_state(db.session, group)
    if state.due:  # a worker publishes it; meanwhile the release in force is shown
        request_release(group.id)
    offered = released_filters(db.session, group, state)
    whole = released_page(db.session, group, Filters(), state)
    form.category.choices = [SelectChoice("", _("All categories"))] + [
        SelectChoice(str(root.id), root.label(locale))
        for root in tree.roots
        if charter.allows_category(root.slug) and Filters(root_category_id=root.id) in offered
    ]
    form.region.choices = [SelectChoice("", _("All regions"))] + [
        SelectChoice(key, name) for key, name in (whole.regions if whole else [])
    ]
    form.year.choices = [SelectChoice("", _("Any time"))] + [
        SelectChoice(str(f.year), str(f.year))
        for f in sorted(offered, key=lambda f: -(f.year or 0))
        if f.year
    ]
    if not state.shown:  # nothing to filter: the page says why, whatever was asked
        return state, None, form, 200
    if request.args and not form.validate():
        return state, None, form, 400
    filters = Filters(
        root_category_id=form.category.data,
        region_key=form.region.data or None,
        year=form.year.data,
    )
    figures = released_page(db.session, group, filters, state)
    if figures is None:
        return state, None, form, 200
    localise(figures, tree, locale)
    admin = policy.can_export_analytics(current_user, group)
    return state, build_figures(figures, locale, admin=admin), form, 200


def _showing(form) -> tuple[str, str, str] | None:
    """The one filter in force: (kind, value, label), for the selector and "showing: …"."""
    for kind in FILTER_KINDS:
        field = getattr(form, kind)
        if field.data not in (None, "") and not field.errors:
            value = str(field.data)
            label = next((c.label for c in field.choices if c.value == value), value)
            return kind, value, label
    return None


@bp.get("/groups/<slug>/analytics")
@for_group(policy.can_view_analytics)
def index(group):
    if "filter" in request.args:
        # The single selector's choice ("region:getxo") becomes the page's own address.
        kind, _sep, value = request.args["filter"].partition(":")
        if request.args["filter"] and (kind not in FILTER_KINDS or not value):
            abort(400)
        return redirect(
            url_for("analytics.index", slug=group.slug, **({kind: value} if value else {}))
        )
    state, figures, form, status = _load(group)
    return render_template(
        "analytics/index.html",
        group=group,
        charter=current_charter(db.session, group),
        state=state,
        preparing=status == 200 and figures is None and state.due,
        reload_seconds=RECOUNT_RELOAD_SECONDS,
        figures=figures or [],
        form=form,
        showing=_showing(form) if status == 200 else None,
    ), status


@bp.get("/groups/<slug>/analytics/<name>.csv")
@for_group(policy.can_export_analytics)
def export(group, name: str):
    state, figures, _form, status = _load(group)
    if status != 200:
        abort(400)
    if figures is None and state.due:
        return Response(
            _("The figures are being added up. Try again in a few seconds."),
            status=503,
            mimetype="text/plain",
            headers={"Retry-After": str(RECOUNT_RELOAD_SECONDS)},
        )
    if figures is None:
        return Response(
            _("These figures have been withdrawn until the group's next release."),
            status=409,
            mimetype="text/plain",
        )
    figure = next((f for f in figures if f.name == name), None)
    if figure is None:
        abort(404)
    return Response(
        figure_csv(figure),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{group.slug}-{name}.csv"'},
    )


def init_app(app) -> None:
    cache.init_app(app)
    events.connect(events.companies_merging, company.follow_company_merge)
    jobs.init_app(app)
    personal.register()  # what it keeps about a person: export and erasure
    app.register_blueprint(bp)
