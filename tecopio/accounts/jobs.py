"""Accounts' jobs: sign-ups nobody confirmed are deleted once their link has expired."""

from tecopio import jobs
from tecopio.accounts import services

PURGE_JOB = "accounts.purge_signups"


def purge_signups(session) -> int:
    return services.purge_expired_signups(session)


def init_app(app) -> None:
    jobs.register(app, PURGE_JOB, purge_signups, every_minutes=30)
