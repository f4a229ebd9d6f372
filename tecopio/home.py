"""The home page: what Tecopio is, or the signed-in person's groups and invitations."""

from flask import Blueprint, render_template
from flask_login import current_user

from tecopio.db import db
from tecopio.groups import services as groups
from tecopio.guards import public

bp = Blueprint("home", __name__)


@bp.get("/")
@public
def index():
    if not current_user.is_authenticated:
        return render_template("home.html")
    memberships = groups.memberships_of_user(db.session, current_user)
    administered = [m.group for m in memberships if m.is_admin]
    return render_template(
        "dashboard.html",
        memberships=memberships,
        waiting=groups.pending_request_counts(db.session, administered),
    )


def init_app(app) -> None:
    app.register_blueprint(bp)
