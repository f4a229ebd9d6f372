"""Outgoing email: real SMTP, or printed to the console in development."""

import smtplib
import sys
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, render_template

# What a failed delivery raises: the SMTP server refused, or could not be reached.
MailError = (smtplib.SMTPException, OSError)


def send_mail(to: str, subject: str, template: str, **context) -> EmailMessage:
    """Render ``templates/mail/<template>.txt`` and send it to one recipient."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="tecopio.localhost")
    message.set_content(render_template(f"mail/{template}.txt", **context))

    if config["MAIL_BACKEND"] == "console":
        print(f"\n----- mail -----\n{message}\n----- end of mail -----\n", file=sys.stderr)
        return message

    smtp_class = smtplib.SMTP_SSL if config["MAIL_USE_SSL"] else smtplib.SMTP
    with smtp_class(
        config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]
    ) as smtp:
        if config["MAIL_USE_TLS"]:
            smtp.starttls()
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.send_message(message)
    return message
