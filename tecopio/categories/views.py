from flask import Blueprint, render_template

from tecopio.categories.services import load_tree
from tecopio.db import db
from tecopio.guards import public

bp = Blueprint("categories", __name__)


@bp.get("/categories/")
@public
def index():
    return render_template("categories/index.html", tree=load_tree(db.session))


def init_app(app) -> None:
    app.register_blueprint(bp)
