"""The job queue: queued after commit, dropped on rollback, retried with backoff, run by workers.

The last test starts real worker processes on Redis against the PostgreSQL
test database (the CI's PostgreSQL pass); the others use the in-memory queue.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from tecopio import jobs
from tecopio.accounts.models import User
from tecopio.analytics.cache import PUBLISH_JOB
from tecopio.analytics.models import AnalyticsSnapshot, AnalyticsVersion
from tecopio.audit.models import AuditEvent
from tecopio.db import db, utcnow
from tecopio.governance import decisions
from tecopio.governance.models import Proposal, ProposalStatus
from tecopio.groups import services as groups
from tecopio.groups.models import Group, Membership
from tests.conftest import TEST_DATABASE_URL, TEST_SECRET_KEY, make_test_app
from tests.factories import PASSWORD_HASH

ROOT = Path(__file__).resolve().parents[1]


def queued(app) -> list[tuple[str, tuple]]:
    queue = app.extensions["jobs"]
    return [(task.name, tuple(task.args)) for task in queue.pending()]


@pytest.mark.usefixtures("app_ctx")
def test_a_job_is_queued_when_the_transaction_commits_and_never_before(app, db_session):
    jobs.enqueue_after_commit(db_session, PUBLISH_JOB, 41)
    jobs.enqueue_after_commit(db_session, PUBLISH_JOB, 41)  # asked twice: queued once
    jobs.enqueue_after_commit(db_session, PUBLISH_JOB, 42)
    assert queued(app) == []
    db_session.commit()
    assert sorted(queued(app)) == [(PUBLISH_JOB, (41,)), (PUBLISH_JOB, (42,))]


@pytest.mark.usefixtures("app_ctx")
def test_a_job_asked_for_in_a_transaction_that_rolls_back_never_runs(app, db_session):
    jobs.enqueue_after_commit(db_session, PUBLISH_JOB, 43)
    db_session.rollback()
    db_session.commit()
    assert queued(app) == []


@pytest.mark.usefixtures("app_ctx")
def test_an_unknown_job_is_refused(db_session):
    with pytest.raises(KeyError):
        jobs.enqueue_after_commit(db_session, "no.such.job")


@pytest.mark.usefixtures("app_ctx")
def test_a_change_to_members_data_asks_for_its_groups_release(app, db_session, make):
    group = make.group()
    member = make.member(group)
    make.consent(member, group, "energy")
    app.extensions["jobs"].flush()
    make.intent(member)
    assert queued(app) == [(PUBLISH_JOB, (group.id,))]
    assert jobs.run_pending() == 1 and jobs.failures() == []
    assert db_session.get(AnalyticsVersion, group.id).release_number == 1


@pytest.mark.usefixtures("app_ctx")
def test_opening_a_proposal_queues_its_close_for_its_closing_time(app, db_session, make):
    admin = make.user()
    group = make.group(admin=admin)
    proposal = decisions.open_proposal(
        db_session, admin, group, kind="motion", title="Solar", description=""
    )
    db_session.commit()
    (close,) = [task for task in app.extensions["jobs"].pending() if task.name == "proposals.close"]
    assert tuple(close.args) == (proposal.id,)
    assert abs(close.eta - proposal.closes_at.replace(tzinfo=None)) < timedelta(seconds=1)


def test_a_failing_job_is_retried_later_and_later(database_url):
    app = make_test_app(database_url, JOBS_BACKEND="memory")
    attempts = []

    def flaky(session):
        attempts.append(utcnow())
        raise RuntimeError("the mail server is down")

    jobs.register(app, "test.flaky", flaky, retries=3, retry_delay=2)
    queue = app.extensions["jobs"]
    with app.app_context():
        jobs.enqueue("test.flaky")
        jobs.run_pending()
        (retry,) = queue.scheduled()
        assert (retry.retries, retry.retry_delay) == (2, 4)  # next wait: twice the first
        assert (
            timedelta(seconds=1) < retry.eta - utcnow().replace(tzinfo=None) <= timedelta(seconds=2)
        )
        queue.flush()
        retry.eta = utcnow().replace(tzinfo=None)  # its time has come
        queue.enqueue(retry)
        jobs.run_pending()
        (again,) = queue.scheduled()
        assert (again.retries, again.retry_delay) == (1, 8)
    assert len(attempts) == 2
    assert [name for name, _exc in queue.failed] == ["test.flaky", "test.flaky"]


def _redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(
    not TEST_DATABASE_URL or not (_redis_reachable() or os.environ.get("TECOPIO_REQUIRE_REDIS")),
    reason="needs PostgreSQL and Redis (the CI's PostgreSQL pass has both)",
)
def test_real_workers_on_redis_run_each_job_once(database_url):
    """Two worker processes listen; the jobs the app queues after commit take effect once."""
    assert _redis_reachable(), "TECOPIO_REQUIRE_REDIS is set but Redis is not on 127.0.0.1:6379"
    queue_name = f"tecopio-test-{uuid.uuid4().hex[:8]}"
    settings = {
        "JOBS_BACKEND": "redis",
        "JOBS_REDIS_URL": "redis://127.0.0.1:6379/15",
        "JOBS_QUEUE_NAME": queue_name,
    }
    app = make_test_app(database_url, **settings)
    with app.app_context():
        admin = User(email="worker@example.com", display_name="W", password_hash=PASSWORD_HASH)
        db.session.add(admin)
        db.session.flush()
        group = groups.create_group(
            db.session, admin, name="Workers", description="", region="", policy="open"
        )
        proposal = decisions.open_proposal(
            db.session, admin, group, kind="motion", title="Due", description=""
        )
        proposal.closes_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        ids = (admin.id, group.id, proposal.id)
        # Asked twice (a retry, two workers' periodic runs): it closes once.
        jobs.enqueue(decisions.CLOSE_JOB, proposal.id)
        jobs.enqueue(decisions.CLOSE_JOB, proposal.id)
        jobs.enqueue(PUBLISH_JOB, group.id)
    environment = {
        **os.environ,
        **settings,
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "TECOPIO_ENV": "development",
        "MAIL_BACKEND": "console",
    }
    command = [sys.executable, "-m", "flask", "--app", "app", "jobs", "worker", "--no-periodic"]
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        with app.app_context():
            while time.monotonic() < deadline:
                db.session.rollback()
                status = db.session.scalar(select(Proposal.status).where(Proposal.id == ids[2]))
                release = db.session.scalar(
                    select(AnalyticsVersion.release_number).where(
                        AnalyticsVersion.group_id == ids[1]
                    )
                )
                pending = app.extensions["jobs"].pending_count()
                if status != ProposalStatus.OPEN and release == 1 and pending == 0:
                    break
                time.sleep(0.2)
            time.sleep(1)  # the second close, if it was taken, has finished too
            closes = db.session.scalar(
                select(func.count(AuditEvent.id)).where(
                    AuditEvent.group_id == ids[1], AuditEvent.action == "proposal.closed"
                )
            )
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        with app.app_context():
            app.extensions["jobs"].flush()
            db.session.execute(
                delete(AnalyticsSnapshot).where(AnalyticsSnapshot.group_id == ids[1])
            )
            db.session.execute(delete(AuditEvent).where(AuditEvent.group_id == ids[1]))
            db.session.execute(delete(Proposal).where(Proposal.group_id == ids[1]))
            db.session.execute(delete(Membership).where(Membership.group_id == ids[1]))
            db.session.execute(delete(Group).where(Group.id == ids[1]))
            db.session.execute(delete(User).where(User.id == ids[0]))
            db.session.commit()
    assert status != ProposalStatus.OPEN and release == 1 and pending == 0
    assert closes == 1
