"""Notifications' jobs: emails go out within seconds, reminders a day before a vote closes."""

from tecopio import jobs
from tecopio.notifications import services


def send_emails(session) -> int:
    return services.send_pending_emails(session)


def remind(session) -> int:
    return services.remind_closing(session)


def init_app(app) -> None:
    # Queued once notifications are written, and every minute for whatever is left.
    jobs.register(app, services.SEND_JOB, send_emails, every_minutes=1)
    jobs.register(app, "notifications.remind", remind, every_minutes=10)
