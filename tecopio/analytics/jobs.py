"""A group's due release is published by a worker, never during a page view.

A change to members' data asks for the job once its transaction commits
(``cache.py``); a page view that finds a release due asks again, in case the
first request was lost (a charter change, a queue that was down). The job is
idempotent: the group's row lock makes concurrent publications run one after
another, the second finds nothing due, and a lock shared by the workers keeps
a second worker from queueing behind a publication already under way.
"""

from flask_babel import force_locale
from sqlalchemy import or_, select

from tecopio import jobs
from tecopio.analytics.cache import PUBLISH_JOB, RELEASE_LOCALE, publish_release, release_state
from tecopio.analytics.models import AnalyticsVersion
from tecopio.categories.services import load_tree
from tecopio.groups.models import Group

CATCH_UP_MINUTES = 2


def _lock_name(group_id: int) -> str:
    return f"analytics-publish-{group_id}"


def publish_due_release(session, group_id: int) -> int:
    """Publish the group's release if one is due; the number of the release now shown."""
    with jobs.exclusive(_lock_name(group_id)), force_locale(RELEASE_LOCALE):
        group = session.get(Group, group_id)
        if group is None:  # deleted since
            return 0
        state = release_state(session, group)
        if state.due:
            state = publish_release(session, group, load_tree(session))
        return state.number


def catch_up(session) -> int:
    """Every few minutes: ask for the release of each group with changes since its last one.

    Changes made where no queue was at hand (a command, a script) and
    requests lost while the queue was down are published this way; groups
    whose release is not due yet cost the job one read each.
    """
    waiting = session.scalars(
        select(AnalyticsVersion.group_id).where(
            or_(
                AnalyticsVersion.changes > AnalyticsVersion.released_changes,
                AnalyticsVersion.release_number == 0,
            )
        )
    ).all()
    for group_id in waiting:
        request_release(group_id)
    return len(waiting)


def request_release(group_id: int) -> None:
    """From a page view: have the due release published, unless a worker is on it."""
    if not jobs.is_busy(_lock_name(group_id)):
        jobs.enqueue(PUBLISH_JOB, group_id)


def init_app(app) -> None:
    jobs.register(app, PUBLISH_JOB, publish_due_release)
    jobs.register(app, "analytics.catch_up", catch_up, every_minutes=CATCH_UP_MINUTES)
