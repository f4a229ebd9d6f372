"""A group's due release is published by a worker, never during a page view.

A change to members' data asks for the job once its transaction commits
(``cache.py``); a page view that finds a release due asks again, in case the
first request was lost (a charter change, a queue that was down). The job is
idempotent: a worker that finds the group's row locked by a publication under
way skips (PostgreSQL; the lock goes with its connection, so a worker that
dies holds nothing), and one that comes after finds nothing due. Changes made
meanwhile are picked up by the next request or by the catch-up pass.
"""

from flask_babel import force_locale
from sqlalchemy import or_, select

from tecopio import jobs
from tecopio.analytics.cache import PUBLISH_JOB, RELEASE_LOCALE, publish_release, release_state
from tecopio.analytics.models import AnalyticsVersion
from tecopio.categories.services import load_tree
from tecopio.groups.models import Group

CATCH_UP_MINUTES = 2


def publish_due_release(session, group_id: int) -> int:
    """Publish the group's release if one is due; the number of the release now shown."""
    busy_or_gone = (
        session.execute(
            select(Group.id).where(Group.id == group_id).with_for_update(skip_locked=True)
        ).scalar()
        is None
    )
    if busy_or_gone:  # another worker is publishing it, or the group was deleted
        return 0
    with force_locale(RELEASE_LOCALE):
        group = session.get(Group, group_id)
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
    """From a page view: have the due release published (a worker already on it skips)."""
    jobs.enqueue(PUBLISH_JOB, group_id)


def init_app(app) -> None:
    jobs.register(app, PUBLISH_JOB, publish_due_release)
    jobs.register(app, "analytics.catch_up", catch_up, every_minutes=CATCH_UP_MINUTES)
