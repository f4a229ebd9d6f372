"""Background and scheduled work: a real job queue (Huey), never threads of the web process.

Why Huey: one small, well-kept library that runs embedded and in production
alike. Embedded (``make run``), jobs wait in a SQLite file in the instance
folder and a worker process started beside the server runs them, periodic
jobs included, so nobody installs cron. In production they wait in Redis and
any number of workers on any number of machines take them; Redis hands each
job to one worker only. Failed jobs retry with exponential backoff. (Celery
needs a broker even to run embedded; RQ needs Redis.)

``JOBS_BACKEND``: ``sqlite`` (the default: ``JOBS_SQLITE_PATH``, else
``instance/jobs.sqlite``), ``redis`` (``JOBS_REDIS_URL``), or ``memory``
(tests: jobs wait in memory until ``run_pending`` runs them, as a worker
would, after the response).

A feature adds its jobs to the app's queue with ``register``, from its own
``init_app``. Each job gets a session of its
own and must be idempotent: it may run twice (a retry, a second periodic
worker) and must then change nothing more. ``enqueue_after_commit`` is how a
write asks for one: the job is queued only once the transaction commits, and
dropped if it rolls back, so a job never sees data that was not saved.
``enqueue`` is for a request with nothing to commit (a GET that finds work
due).
"""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import click
from flask import current_app, has_app_context
from flask.cli import AppGroup
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey import signals as huey_signals
from huey.consumer import Consumer
from huey.exceptions import RetryTask
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, scoped_session

from tecopio.db import db

logger = logging.getLogger(__name__)
BACKENDS = ("sqlite", "redis", "memory")
PENDING = "jobs_after_commit"


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable
    retries: int
    retry_delay: int
    every_minutes: int | None = None


def register(
    app,
    name: str,
    func: Callable,
    *,
    every_minutes: int | None = None,
    retries: int = 5,
    retry_delay: int = 2,
) -> None:
    """Make ``func(session, *args)`` the job ``name`` (from a feature's ``init_app``).

    Retries wait ``retry_delay`` seconds, then twice as long each time. With
    ``every_minutes`` the workers run it on that schedule (it takes no arguments).
    """
    queue = _queue(app)
    spec = JobSpec(name, func, retries, retry_delay, every_minutes)
    options = {"name": name, "retries": retries, "retry_delay": retry_delay, "retry_backoff": 2}
    if every_minutes is None:
        queue.tasks[name] = queue.task(**options)(_bound(app, spec))
    else:
        every = crontab(minute=f"*/{every_minutes}")
        queue.tasks[name] = queue.periodic_task(every, **options)(_bound(app, spec))
        queue.periodic_names.append(name)


def _queue(app=None):
    return (app or current_app).extensions["jobs"]


def _task(name: str, app=None):
    return _queue(app).tasks[name]


def enqueue(name: str, *args, eta: datetime | None = None) -> None:
    """Queue the job now (nothing to commit first)."""
    task = _task(name)
    if eta is None:
        task(*args)
    else:
        task.schedule(args=args, eta=eta)


def enqueue_after_commit(session, name: str, *args, eta: datetime | None = None) -> None:
    """Queue the job once ``session``'s transaction commits; nothing if it rolls back.

    The same job with the same arguments asked twice in one transaction is
    queued once. Outside the app (a script) nothing is queued: the periodic
    jobs catch up with what is due.
    """
    if not has_app_context() or "jobs" not in current_app.extensions:
        return  # a script outside the app: the periodic jobs catch up with what is due
    if name not in _queue().tasks:
        raise KeyError(f"no job named {name!r}")
    real = session.registry() if isinstance(session, scoped_session) else session
    if not real.in_transaction():
        real.begin()  # the transaction whose commit the job waits for
    pending = real.info.setdefault(PENDING, {})
    pending[(name, args)] = eta
    if not real.info.get("jobs_listening"):
        real.info["jobs_listening"] = True
        event.listen(real, "after_commit", _queue_pending)
        event.listen(real, "after_transaction_end", _drop_pending)


def _queue_pending(session: Session) -> None:
    pending = session.info.pop(PENDING, {})
    for (name, args), eta in pending.items():
        try:
            enqueue(name, *args, eta=eta)
        except Exception:  # the commit stands; periodic jobs catch up with what is due
            logger.exception("could not queue job %s%r", name, args)


def _drop_pending(session: Session, transaction) -> None:
    """The session's transaction ended without a commit (after one, nothing is left)."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)


def _bound(app, spec: JobSpec):
    """The job as a worker runs it: in the app, with a session of its own, committed."""

    def run(*args):
        with app.app_context():
            try:
                result = spec.func(db.session, *args)
                db.session.commit()
                return result
            except OperationalError as exc:
                db.session.rollback()
                if "database is locked" in str(exc.orig):  # SQLite: another writer; try again
                    raise RetryTask(delay=1) from exc
                raise
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()

    run.__name__ = spec.name.replace(".", "_")
    return run


def _make_queue(app):
    backend = app.config["JOBS_BACKEND"]
    if backend not in BACKENDS:
        raise ValueError(f"JOBS_BACKEND must be one of {', '.join(BACKENDS)}")
    name = app.config["JOBS_QUEUE_NAME"]
    if backend == "redis":
        return RedisHuey(name, url=app.config["JOBS_REDIS_URL"], utc=True)
    if backend == "memory":
        return MemoryHuey(name, utc=True)
    path = app.config.get("JOBS_SQLITE_PATH") or os.path.join(app.instance_path, "jobs.sqlite")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return SqliteHuey(name, filename=path, utc=True)


def run_pending(app=None, *, periodic: bool = False) -> int:
    """Run every job waiting now, one after another, as a worker would; how many ran.

    For the ``memory`` backend (tests) and for ``flask jobs run-pending``.
    Scheduled jobs whose time has come run too, and with ``periodic`` every
    periodic job first (they are idempotent: running one early changes
    nothing that is not due).
    """
    queue = _queue(app)
    ran = 0
    if periodic:
        for name in queue.periodic_names:
            queue.tasks[name]()
    for task in queue.read_schedule(queue._get_timestamp()):
        queue.enqueue(task)
    while (task := queue.dequeue()) is not None:
        queue.execute(task)
        ran += 1
    return ran


def has_work(app=None) -> bool:
    """Whether a job waits that ``run_pending`` would run now."""
    queue = _queue(app)
    now = queue._get_timestamp()
    return bool(queue.pending_count()) or any(task.eta <= now for task in queue.scheduled())


def failures(app=None) -> list:
    """Errors of jobs run in this process since the last call (tests assert there are none)."""
    queue = _queue(app)
    found, queue.failed = queue.failed, []
    return found


def init_app(app) -> None:
    """The app's queue; features add their jobs with ``register`` in their own ``init_app``."""
    app.config.setdefault("JOBS_BACKEND", "sqlite")
    app.config.setdefault("JOBS_QUEUE_NAME", "tecopio")
    app.config.setdefault("JOBS_REDIS_URL", "redis://127.0.0.1:6379/0")
    queue = _make_queue(app)
    queue.tasks = {}
    queue.periodic_names = []
    queue.failed = []

    @queue.signal(huey_signals.SIGNAL_ERROR)
    def _record_failure(signal, task, exc=None):
        queue.failed.append((task.name, exc))

    app.extensions["jobs"] = queue
    app.cli.add_command(jobs_cli)


jobs_cli = AppGroup("jobs", help="Background and scheduled work.")


@jobs_cli.command("worker")
@click.option("--workers", default=2, show_default=True, help="Jobs run at once (threads).")
@click.option(
    "--no-periodic",
    is_flag=True,
    help="Leave the periodic jobs to another worker (they are idempotent either way).",
)
def worker_command(workers: int, no_periodic: bool):
    """Run jobs as they are queued, and the periodic ones on time, until stopped."""
    queue = _queue()
    consumer = Consumer(queue, workers=workers, periodic=not no_periodic, worker_type="thread")
    click.echo(f"Jobs worker: {workers} thread(s), backend {current_app.config['JOBS_BACKEND']}")
    consumer.run()


@jobs_cli.command("run-pending")
def run_pending_command():
    """Run the jobs waiting now, then stop (for a one-off catch-up)."""
    click.echo(f"{run_pending()} job(s) run.")
