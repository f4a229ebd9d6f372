"""Helpers shared by every feature's views."""

from flask import current_app, has_request_context, render_template, request, url_for
from markupsafe import Markup
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


CONFIRM_FIELD = "confirmed"


def confirmed() -> bool:
    """True on the second submit of a destructive form, the one made from its confirmation page."""
    return request.form.get(CONFIRM_FIELD) == "yes"


def ask_first(
    *,
    title: str,
    consequences: list[str | Markup],
    confirm_label: str,
    cancel_url: str,
    back_label: str | None = None,
    details: list[tuple[str, str]] | None = None,
    danger: bool = True,
):
    """The confirmation page of a destructive action, made by its first submit.

    It works without JavaScript: the page says in plain words what will
    happen and posts the same fields back to the same URL with ``confirmed``;
    the first submit changes nothing. ``details`` are facts shown before the
    consequences (the two entries of a merge, say).
    """
    carried = [
        (name, value)
        for name, value in request.form.items(multi=True)
        if name not in ("csrf_token", CONFIRM_FIELD)
    ]
    return render_template(
        "confirm.html",
        title=title,
        consequences=consequences,
        confirm_label=confirm_label,
        cancel_url=cancel_url,
        back_label=back_label,
        details=details or [],
        carried=carried,
        danger=danger,
        action=request.path,
    )


class DatabaseInteger(IntegerConverter):
    """``<int:...>`` in every route: ids beyond what the database stores are simply not found."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


AVATAR_COLOURS = 6  # .avatar-0 … .avatar-5 in style.css (no inline styles: the CSP forbids them)


def initials(name: str) -> str:
    """Up to two letters for a generated avatar: "Bilbao Energy" -> "BE"."""
    words = [word for word in name.split() if word[:1].isalnum()]
    return "".join(word[0] for word in words[:2]).upper() or "·"


def avatar_colour(key: str) -> str:
    """The class of a colour of the palette, always the same for the same key."""
    return f"avatar-{sum(key.encode()) % AVATAR_COLOURS}"


def init_app(app) -> None:
    app.url_map.converters["int"] = DatabaseInteger
    app.jinja_env.filters.update(initials=initials, avatar_colour=avatar_colour)
