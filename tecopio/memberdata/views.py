"""Pages where members record and edit their preferences, intents and feedback."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from tecopio import events
from tecopio.categories.services import load_tree
from tecopio.db import db
from tecopio.directory.forms import company_choices
from tecopio.directory.services import active_companies
from tecopio.guards import for_own, signed_in
from tecopio.memberdata import personal, services
from tecopio.memberdata.forms import (
    FeedbackForm,
    IntentForm,
    PreferenceForm,
    category_choices,
)
from tecopio.memberdata.models import (
    Feedback,
    Intent,
    IntentStatus,
    InvalidIntentTransition,
    Preference,
    Stance,
    intent_locked,
    member_moves,
)
from tecopio.memberdata.vocab import UNITS, VALUES
from tecopio.money import plain_amount
from tecopio.views import ask_first, confirmed, render_form

bp = Blueprint("memberdata", __name__, url_prefix="/my")


def _model(model):
    return lambda _kwargs: model


def _attach(form, error: services.InvalidItem) -> None:
    field = getattr(form, error.field, None)
    (field.errors if field is not None else form.form_errors).append(error.message)


def _save(form, save, message, list_endpoint: str, template: str, item=None):
    """The one shape of every add/edit page: validate, call the service, commit or explain."""
    if form.validate_on_submit():
        try:
            save()
        except services.InvalidItem as exc:
            db.session.rollback()
            _attach(form, exc)
        except services.IntentLocked as exc:
            db.session.rollback()
            form.form_errors.append(exc.message)
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for(list_endpoint))
    return render_form(template, form=form, item=item)


# --- preferences ------------------------------------------------------------


def _preference_form(obj=None):
    form = PreferenceForm(obj=obj)
    tree = load_tree(db.session)
    form.category_id.choices = category_choices(tree, str(get_locale()))
    companies = company_choices(active_companies(db.session))
    form.liked.choices = companies
    form.avoided.choices = companies
    if obj is not None and request.method == "GET":
        form.liked.data = [c.id for c in obj.companies_with(Stance.LIKE)]
        form.avoided.data = [c.id for c in obj.companies_with(Stance.AVOID)]
    return form


def _preference_fields(form) -> dict:
    return {
        "category_id": form.category_id.data,
        "importance": form.importance.data,
        "values": form.values.data,
        "note": form.note.data,
        "liked": form.liked.data,
        "avoided": form.avoided.data,
    }


@bp.get("/preferences")
@signed_in
def preferences():
    return render_template(
        "memberdata/preferences.html",
        preferences=services.preferences_of(db.session, current_user),
        value_labels=VALUES,
    )


@bp.route("/preferences/new", methods=["GET", "POST"])
@signed_in
def new_preference():
    form = _preference_form()
    return _save(
        form,
        lambda: services.create_preference(db.session, current_user, **_preference_fields(form)),
        _("Your preference is saved."),
        "memberdata.preferences",
        "memberdata/preference_form.html",
    )


@bp.route("/preferences/<int:item_id>/edit", methods=["GET", "POST"])
@for_own(_model(Preference), name="preference")
def edit_preference(preference):
    form = _preference_form(preference)
    return _save(
        form,
        lambda: services.update_preference(db.session, preference, **_preference_fields(form)),
        _("Your preference is saved."),
        "memberdata.preferences",
        "memberdata/preference_form.html",
        item=preference,
    )


# --- intents ------------------------------------------------------------------


def _intent_form(obj=None):
    form = IntentForm(obj=obj)
    form.category_id.choices = category_choices(load_tree(db.session), str(get_locale()))
    if obj is not None and request.method == "GET":
        form.budget_min.data = plain_amount(obj.budget_min, obj.currency)
        form.budget_max.data = plain_amount(obj.budget_max, obj.currency)
    return form


def _intent_fields(form) -> dict:
    return {
        "category_id": form.category_id.data,
        "description": form.description.data,
        "quantity": form.quantity.data,
        "unit": form.unit.data,
        "budget_min": form.budget_min.minor_units,
        "budget_max": form.budget_max.minor_units,
        "currency": form.currency.data,
        "window_start": form.window_start.data,
        "window_end": form.window_end.data,
    }


@bp.get("/intents")
@signed_in
def intents():
    return _render_intents(200)


@bp.route("/intents/new", methods=["GET", "POST"])
@signed_in
def new_intent():
    form = _intent_form()
    return _save(
        form,
        lambda: services.create_intent(db.session, current_user, **_intent_fields(form)),
        _("Your purchase intent is saved."),
        "memberdata.intents",
        "memberdata/intent_form.html",
    )


@bp.route("/intents/<int:item_id>/edit", methods=["GET", "POST"])
@for_own(_model(Intent), name="intent")
def edit_intent(intent):
    form = _intent_form(intent)
    return _save(
        form,
        lambda: services.update_intent(db.session, intent, **_intent_fields(form)),
        _("Your purchase intent is saved."),
        "memberdata.intents",
        "memberdata/intent_form.html",
        item=intent,
    )


@bp.post("/intents/<int:item_id>/status")
@for_own(_model(Intent), name="intent")
def intent_status(intent):
    try:
        target = IntentStatus(request.form.get("status", ""))
        services.change_intent_status(db.session, intent, target)
    except (ValueError, InvalidIntentTransition):
        db.session.rollback()
        flash(_("This change of status is not possible."), "error")
        return _render_intents(409)
    except services.IntentLocked as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_intents(409)
    db.session.commit()
    flash(_("The status of your intent is updated."), "success")
    return redirect(url_for("memberdata.intents"))


def _render_intents(status: int):
    return render_template(
        "memberdata/intents.html",
        intents=services.intents_of(db.session, current_user),
        unit_labels=UNITS,
    ), status


# --- feedback -----------------------------------------------------------------


def _feedback_form(obj=None):
    form = FeedbackForm(obj=obj)
    form.company_id.choices = company_choices(active_companies(db.session))
    form.category_id.choices = [SelectChoice("", _("The company's sector"))] + category_choices(
        load_tree(db.session), str(get_locale())
    )
    if request.method == "GET" and obj is None and request.args.get("company", "").isdigit():
        form.company_id.data = int(request.args["company"])
    return form


def _feedback_fields(form) -> dict:
    return {
        "company_id": form.company_id.data,
        "category_id": form.category_id.data,
        "rating": form.rating.data,
        "body": form.body.data,
        "visibility": form.visibility.data,
    }


@bp.get("/feedback")
@signed_in
def feedback():
    return render_template(
        "memberdata/feedback.html", feedback=services.feedback_of(db.session, current_user)
    )


@bp.route("/feedback/new", methods=["GET", "POST"])
@signed_in
def new_feedback():
    form = _feedback_form()
    return _save(
        form,
        lambda: services.create_feedback(db.session, current_user, **_feedback_fields(form)),
        _("Thank you: your feedback is saved."),
        "memberdata.feedback",
        "memberdata/feedback_form.html",
    )


@bp.route("/feedback/<int:item_id>/edit", methods=["GET", "POST"])
@for_own(_model(Feedback))
def edit_feedback(item):
    form = _feedback_form(item)
    return _save(
        form,
        lambda: services.update_feedback(db.session, item, **_feedback_fields(form)),
        _("Your feedback is saved."),
        "memberdata.feedback",
        "memberdata/feedback_form.html",
        item=item,
    )


# --- deleting any of them -------------------------------------------------------

KIND_PAGES = {"preference": "preferences", "intent": "intents", "feedback": "feedback"}


def _item_title(kind: str, item) -> str:
    locale = str(get_locale())
    if kind == "feedback":
        return _("your feedback about %(company)s", company=item.company.name)
    if kind == "intent":
        return _("your purchase intent for %(category)s", category=item.category.label(locale))
    return _("your preference about %(category)s", category=item.category.label(locale))


def _ask_before_deleting(kind: str, item):
    what = _item_title(kind, item)
    return ask_first(
        title=_("Delete %(what)s?", what=what),
        consequences=[
            _("It is deleted for good: it cannot be brought back."),
            _(
                "Groups you share it with stop counting it from their next figures; "
                "figures already published do not name you and stay as they are."
            ),
            _("If you only want to stop sharing it, change your sharing choices instead."),
        ],
        confirm_label=_("Delete it"),
        cancel_url=url_for(f"memberdata.{KIND_PAGES[kind]}"),
        back_label=_("Keep it"),
    )


@bp.post("/<kind>/<int:item_id>/delete")
@for_own(lambda kwargs: services.ITEM_KINDS.get(kwargs["kind"]))
def delete(kind: str, item):
    # A committed intent cannot be deleted: refused at once rather than asked about.
    locked = kind == "intent" and intent_locked(item)
    if not locked and not confirmed():
        return _ask_before_deleting(kind, item)
    try:
        services.delete_item(db.session, item)
    except services.IntentLocked as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_intents(409)
    db.session.commit()
    flash(_("Deleted."), "info")
    return redirect(url_for(f"memberdata.{KIND_PAGES[kind]}"))


def init_app(app) -> None:
    app.register_blueprint(bp)
    # The intent's state machine, asked by the pages that offer its moves.
    app.jinja_env.globals.update(intent_moves=member_moves, intent_locked=intent_locked)
    events.connect(events.companies_merging, services.move_company_mentions)
    personal.register()  # what it keeps about a person: export and erasure
