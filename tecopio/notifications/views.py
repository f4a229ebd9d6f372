import click
from flask import Blueprint, flash, redirect, render_template, url_for
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_login import current_user

from tecopio import events
from tecopio.db import db
from tecopio.guards import signed_in
from tecopio.notifications import jobs, personal, services, texts

bp = Blueprint("notifications", __name__)


@bp.get("/notifications")
@signed_in
def index():
    return render_template(
        "notifications/index.html",
        notifications=services.notifications_of(db.session, current_user),
    )


@bp.post("/notifications/read")
@signed_in
def mark_read():
    services.mark_all_read(db.session, current_user)
    db.session.commit()
    flash(_("All notifications are marked as read."), "success")
    return redirect(url_for("notifications.index"))


def _unread_notifications():
    """The number in the menu, for signed-in people (one small query per page)."""
    if current_user and current_user.is_authenticated:
        return {"unread_notifications": services.unread_count(db.session, current_user)}
    return {"unread_notifications": 0}


notifications_cli = AppGroup("notifications", help="Members' notifications.")


@notifications_cli.command("send")
def send_command():
    """Email the notifications of members who asked for emails now (the jobs worker does too)."""
    sent = services.send_pending_emails(db.session)
    click.echo(f"{sent} email(s) sent.")


@notifications_cli.command("remind")
def remind_command():
    """Remind members who have not voted, a day before each vote closes (the worker does too)."""
    reminded = services.remind_closing(db.session)
    db.session.commit()
    click.echo(f"{reminded} reminder(s) written.")


def init_app(app) -> None:
    app.register_blueprint(bp)
    events.connect(events.proposal_opened, services.proposal_opened)
    events.connect(events.vote_cast, services.vote_cast)
    events.connect(events.join_requested, services.join_requested)
    events.connect(events.join_request_closed, services.join_request_closed)
    events.connect(events.member_removed, services.member_removed)
    events.connect(events.invitation_sent, services.invitation_sent)
    events.connect(events.invitation_closed, services.invitation_closed)
    events.connect(events.offer_invitation_sent, services.offer_invitation_sent)
    events.connect(events.offer_decided, services.offer_decided)
    events.connect(events.deal_opened, services.deal_opened)
    events.connect(events.deal_tipped, services.deal_tipped)
    events.connect(events.deal_closed, services.deal_closed)
    app.jinja_env.globals.update(notification_text=texts.text, notification_link=texts.link)
    jobs.init_app(app)
    personal.register()  # what it keeps about a person: export and erasure
    app.context_processor(_unread_notifications)
    app.cli.add_command(notifications_cli)
