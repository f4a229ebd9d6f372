"""A large group's due release is published after the response, so a page view never waits.

``ANALYTICS_REFRESH`` chooses how: ``"thread"`` (the default) computes in a
thread of the serving process with its own session; ``"inline"`` computes in
the request's own session once the page has its figures (tests use it: their
data is in the request's uncommitted transaction). Either way the group's row
lock makes concurrent refreshes of a group run one after another, and a
publication that finds no release due does nothing.
"""

import threading

from flask import current_app
from flask_babel import force_locale

from tecopio.analytics.cache import RELEASE_LOCALE, commit_release, publish_release
from tecopio.categories.services import load_tree
from tecopio.db import db
from tecopio.groups.models import Group

_running: set[int] = set()
_guard = threading.Lock()


def schedule_refresh(group_id: int) -> threading.Thread | None:
    """Publish the group's due release; the thread, if one started."""
    app = current_app._get_current_object()
    if app.config["ANALYTICS_REFRESH"] == "inline":
        _refresh(group_id)
        return None
    job = group_id
    with _guard:
        if job in _running:  # already on its way in this process
            return None
        _running.add(job)
    thread = threading.Thread(
        target=_run, args=(app, job), name=f"analytics-refresh-{group_id}", daemon=True
    )
    thread.start()
    return thread


def _refresh(group_id: int) -> None:
    group = db.session.get(Group, group_id)
    if group is not None:
        publish_release(db.session, group, load_tree(db.session))
        commit_release(db.session)


def _run(app, job) -> None:
    group_id = job
    try:
        with app.app_context(), force_locale(RELEASE_LOCALE):
            try:
                _refresh(group_id)
            except Exception:
                app.logger.exception("refreshing the analytics of group %s failed", group_id)
            finally:
                db.session.remove()
    finally:
        with _guard:
            _running.discard(job)


def init_app(app) -> None:
    app.config.setdefault("ANALYTICS_REFRESH", "thread")
    if app.config["ANALYTICS_REFRESH"] not in {"thread", "inline"}:
        raise ValueError("ANALYTICS_REFRESH must be 'thread' or 'inline'")
