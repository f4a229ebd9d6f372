"""Helpers shared by every feature's views."""

from flask import current_app, has_request_context, render_template, request, url_for
from werkzeug.routing import IntegerConverter


def render_form(template: str, **context):
    """Render a page with a form: 400 when a submitted form was refused."""
    status = 400 if request.method == "POST" else 200
    return render_template(template, **context), status


def public_url(endpoint: str, **values) -> str:
    """An absolute link for an email, built from PUBLIC_URL rather than the request's Host.

    Works outside requests too (emails sent by a scheduled command).
    """
    if has_request_context():
        path = url_for(endpoint, **values)
    else:
        with current_app.test_request_context():
            path = url_for(endpoint, **values)
    return current_app.config["PUBLIC_URL"].rstrip("/") + path


def page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        return 1


class DatabaseInteger(IntegerConverter):
    """``<int:...>`` in every route: ids beyond what the database stores are simply not found."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def init_app(app) -> None:
    app.url_map.converters["int"] = DatabaseInteger
