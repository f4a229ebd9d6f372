"""Enforcers: every route says once, before its body runs, who may reach it.

``tecopio.policy`` answers questions (``can_*``); the decorators here ask one
of them for the object a route is about and refuse before the view runs: a
visitor who is not signed in is sent to the login page, a refusal is 403, or
404 where even the object's existence is private. Each declares itself on the
view (``ACCESS_RULE``), and a test walks the URL map and fails on any endpoint
that declares nothing, so a new route cannot forget.

- ``public``: anyone, signed in or not (a marker: nothing is checked).
- ``signed_in``: self-service pages about the signed-in person's own account
  and data; the person is the only subject.
- ``platform``: the operator's pages, asked of the user alone.
- ``for_group``: routes under ``/groups/<slug>``; the view receives ``group``
  (and, with ``child``, the object the URL names inside the group, which must
  belong to it) instead of the URL's identifiers.
- ``for_company``: routes under ``/partners/<company>``; the view receives
  ``partner``, the company's account.
- ``for_own``: a member's own item; someone else's is "not found".
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import abort, current_app
from flask_login import current_user, login_required
from sqlalchemy import select

from tecopio.db import db
from tecopio.policy import require

ACCESS_RULE = "access_rule"


def _declare(view, rule: str):
    setattr(view, ACCESS_RULE, rule)
    return view


def rule_of(view) -> str | None:
    return getattr(view, ACCESS_RULE, None)


def undeclared_endpoints(app) -> list[str]:
    """Endpoints whose view declares no access rule (Flask's static files are public)."""
    return sorted(
        endpoint
        for endpoint, view in app.view_functions.items()
        if rule_of(view) is None and endpoint != "static" and not endpoint.endswith(".static")
    )


def public(view):
    """Anyone may open it; what it shows is public, or about the visitor's own request."""
    return _declare(view, "public")


def signed_in(view):
    """Self-service: any signed-in person, about their own account and data only."""
    return _declare(login_required(view), "self-service")


def _login_first():
    """The login page for a visitor, or None when someone is signed in."""
    if current_user.is_authenticated:
        return None
    return current_app.login_manager.unauthorized()


def platform(predicate: Callable):
    """The operator's pages: ``predicate(user)`` decides."""

    def decorator(view):
        @wraps(view)
        def guarded(**kwargs):
            if (login := _login_first()) is not None:
                return login
            require(predicate(current_user))
            return view(**kwargs)

        return _declare(guarded, f"platform: {predicate.__name__}")

    return decorator


@dataclass(frozen=True)
class Child:
    """An object a group's URL names (``<int:param>``), passed to the view as ``name``.

    ``by`` is the column the URL gives: the id, or a number within the group
    (``by="number"``) where a global id would tell how many exist platform-wide.
    """

    model: type
    param: str
    name: str
    by: str = "id"
    # A second predicate, ``check(user, obj)``, asked of the loaded object (403 if false).
    check: Callable | None = None

    def load(self, group, identifier: int):
        if self.by == "id":
            found = db.session.get(self.model, identifier)
        else:
            found = db.session.scalar(
                select(self.model).where(
                    self.model.group_id == group.id, getattr(self.model, self.by) == identifier
                )
            )
        if found is None or found.group_id != group.id:
            abort(404)
        if self.check is not None:
            require(self.check(current_user, found))
        return found


def _group_or_404(slug: str):
    from tecopio.groups.services import get_group

    group = get_group(db.session, slug)
    if group is None:
        abort(404)
    return group


def for_group(
    predicate: Callable,
    *,
    hide: bool = False,
    login: bool = True,
    child: Child | None = None,
    choices: tuple[str, Callable[[], object]] | None = None,
):
    """A route under ``/groups/<slug>``: ``predicate(user, group)`` decides.

    The visitor is sent to log in where ``login``, the group loaded
    (unknown: 404), the predicate asked (403, or 404 with ``hide``), and only then
    the child object loaded (unknown or in another group: 404), so nobody
    outside the group learns which ids exist in it. ``choices`` names a URL
    part that must be one of a fixed set (else 404), checked first.
    """

    def decorator(view):
        @wraps(view)
        def guarded(slug: str, **kwargs):
            if login and (redirect := _login_first()) is not None:
                return redirect
            if choices is not None:
                name, allowed = choices
                if kwargs[name] not in allowed():
                    abort(404)
            group = _group_or_404(slug)
            require(predicate(current_user, group), hide=hide)
            if child is not None:
                kwargs[child.name] = child.load(group, kwargs.pop(child.param))
            return view(group=group, **kwargs)

        also = f" and {child.check.__name__}" if child is not None and child.check else ""
        return _declare(guarded, f"group: {predicate.__name__}{also}")

    return decorator


def _partner_or_404(slug: str):
    from tecopio.partners.services import get_partner

    partner = get_partner(db.session, slug)
    if partner is None:
        abort(404)
    return partner


def for_company(predicate: Callable, *, hide: bool = False):
    """A route under ``/partners/<company>``: ``predicate(user, partner)`` decides.

    The visitor is sent to log in, the company loaded (unknown: 404), and the
    predicate asked (403, or 404 with ``hide``); the view receives ``partner``.
    """

    def decorator(view):
        @wraps(view)
        def guarded(company: str, **kwargs):
            if (redirect := _login_first()) is not None:
                return redirect
            partner = _partner_or_404(company)
            require(predicate(current_user, partner), hide=hide)
            return view(partner=partner, **kwargs)

        return _declare(guarded, f"company: {predicate.__name__}")

    return decorator


def for_own(models: Callable[[dict], type | None], name: str = "item"):
    """A member's own item (``<int:item_id>``); the view receives it as ``name``.

    ``models(kwargs)`` names the model from the URL (404 when it names none);
    someone else's item, like a missing one, is "not found".
    """
    from tecopio.policy import can_edit_item

    def decorator(view):
        @login_required
        @wraps(view)
        def guarded(item_id: int, **kwargs):
            model = models(kwargs)
            if model is None:
                abort(404)
            item = db.session.get(model, item_id)
            if item is None:
                abort(404)
            require(can_edit_item(current_user, item), hide=True)
            return view(**{name: item}, **kwargs)

        return _declare(guarded, "own item: can_edit_item")

    return decorator
