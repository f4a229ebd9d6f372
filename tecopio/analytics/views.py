from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms.fields.choices import SelectChoice

from tecopio import policy
from tecopio.analytics import background
from tecopio.analytics.background import schedule_refresh
from tecopio.analytics.cache import cached_figures, commit_snapshot
from tecopio.analytics.forms import FilterForm
from tecopio.analytics.presentation import build_figures, figure_csv
from tecopio.analytics.queries import Filters
from tecopio.analytics.source import offered_years, shared_regions
from tecopio.categories.services import load_tree
from tecopio.db import db, utcnow
from tecopio.governance.services import current_charter
from tecopio.groups.services import get_group

bp = Blueprint("analytics", __name__)
RECOUNT_RELOAD_SECONDS = 5


def _load(slug: str):
    """The group, its figures for the filters in the query string, and the filter form."""
    group = get_group(db.session, slug)
    if group is None:
        abort(404)
    policy.require(policy.can_view_analytics(current_user, group))
    locale = str(get_locale())
    tree = load_tree(db.session)
    form = FilterForm(request.args)
    charter = current_charter(db.session, group)
    form.category.choices = [SelectChoice("", _("All categories"))] + [
        SelectChoice(str(root.id), root.label(locale))
        for root in tree.roots
        if charter.allows_category(root.slug)
    ]
    form.region.choices = [SelectChoice("", _("All regions"))] + [
        SelectChoice(key, name)
        for key, name in shared_regions(db.session, group.id, charter.k_anonymity)
    ]
    form.year.choices = [SelectChoice("", _("Any time"))] + [
        SelectChoice(str(year), str(year)) for year in offered_years(utcnow().date())
    ]
    if request.args and not form.validate():
        return group, None, None, form, 400
    filters = Filters(
        root_category_id=form.category.data,
        region_key=form.region.data or None,
        year=form.year.data,
    )
    figures = cached_figures(
        db.session,
        group,
        filters,
        tree,
        locale,
        wait_up_to=current_app.config["ANALYTICS_WAIT_MEMBERS"],
    )
    commit_snapshot(db.session)  # a fresh snapshot, and the privacy budget a noisy release spent
    if figures is None or figures.stale:
        schedule_refresh(group.id, filters, locale)
    if figures is None:
        return group, None, None, form, 200
    admin = policy.can_export_analytics(current_user, group)
    return group, figures, build_figures(figures, locale, admin=admin), form, 200


@bp.get("/groups/<slug>/analytics")
@login_required
def index(slug: str):
    group, state, figures, form, status = _load(slug)
    return render_template(
        "analytics/index.html",
        group=group,
        charter=current_charter(db.session, group),
        state=state,
        recounting=status == 200 and state is None,
        reload_seconds=RECOUNT_RELOAD_SECONDS,
        figures=figures or [],
        form=form,
        can_export=policy.can_export_analytics(current_user, group),
    ), status


@bp.get("/groups/<slug>/analytics/<name>.csv")
@login_required
def export(slug: str, name: str):
    group, _state, figures, _form, status = _load(slug)
    policy.require(policy.can_export_analytics(current_user, group))
    if status != 200:
        abort(400)
    if figures is None:
        return Response(
            _("The figures are being recounted. Try again in a few seconds."),
            status=503,
            mimetype="text/plain",
            headers={"Retry-After": str(RECOUNT_RELOAD_SECONDS)},
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
    background.init_app(app)
    app.register_blueprint(bp)
