"""Stale snapshots are refreshed after the response, so a page view never waits for them.

``ANALYTICS_REFRESH`` chooses how: ``"thread"`` (the default) computes in a
thread of the serving process with its own session; ``"inline"`` computes in
the request's own session once the page has its figures (tests use it: their
data is in the request's uncommitted transaction). Either way the group's row
lock makes concurrent refreshes of a group run one after another, and a
refresh that finds the snapshot already fresh does nothing.
"""

import threading

from flask import current_app
from flask_babel import force_locale

from tecopio.analytics.cache import commit_snapshot, refresh_snapshots
from tecopio.categories.services import load_tree
from tecopio.db import db
from tecopio.groups.models import Group

_running: set[tuple[int, object, str]] = set()
_guard = threading.Lock()


def schedule_refresh(group_id: int, filters, locale: str) -> threading.Thread | None:
    """Refresh one page's snapshot (and its filter's other pages); the thread, if one started."""
    app = current_app._get_current_object()
    if app.config["ANALYTICS_REFRESH"] == "inline":
        _refresh(group_id, filters, locale)
        return None
    job = (group_id, filters, locale)
    with _guard:
        if job in _running:  # already on its way in this process
            return None
        _running.add(job)
    thread = threading.Thread(
        target=_run, args=(app, job), name=f"analytics-refresh-{group_id}", daemon=True
    )
    thread.start()
    return thread


def _refresh(group_id: int, filters, locale: str) -> None:
    group = db.session.get(Group, group_id)
    if group is not None:
        refresh_snapshots(db.session, group, filters, load_tree(db.session), locale)
        commit_snapshot(db.session)


def _run(app, job) -> None:
    group_id, filters, locale = job
    try:
        with app.app_context(), force_locale(locale):
            try:
                _refresh(group_id, filters, locale)
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
