"""Friendly error pages for every 4xx/5xx a person can meet."""

from flask import current_app, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

TITLES = {
    400: _l("This request could not be understood"),
    403: _l("You may not do this"),
    404: _l("Page not found"),
    405: _l("This action is not available here"),
    413: _l("What you sent is too large"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong on our side"),
}
EXPLANATIONS = {
    400: _l("Please check what you entered and try again."),
    403: _l("Your account does not have permission for this page or action."),
    404: _l("The page you asked for does not exist or is not visible to you."),
    405: _l("Please use the buttons and forms on the site."),
    413: _l("Please send a smaller file or shorter text."),
    429: _l("For your security we paused further attempts. Please wait a minute and try again."),
    500: _l("The error has been logged. Please try again in a moment."),
}


def render_error(code: int, message=None):
    title = TITLES.get(code, TITLES[400] if code < 500 else TITLES[500])
    explanation = message or EXPLANATIONS.get(code, EXPLANATIONS[400 if code < 500 else 500])
    return render_template("error.html", code=code, title=title, explanation=explanation), code


def _handle_http_exception(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    message = error.description if getattr(error, "tecopio_message", False) else None
    return render_error(error.code, message)


def _handle_csrf_error(error: CSRFError):
    return render_error(
        400,
        _l("This form has expired or did not come from this site. Reload the page and try again."),
    )


def _handle_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        return _handle_http_exception(error)
    current_app.logger.exception("unexpected error", exc_info=error)
    return render_error(500)


def init_app(app) -> None:
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(InternalServerError, lambda e: render_error(500))
    if not app.testing:
        app.register_error_handler(Exception, _handle_unexpected)


def abort_with(code: int, message) -> None:
    """Stop the request with ``code`` and show ``message`` on the error page."""
    from werkzeug.exceptions import default_exceptions

    error = default_exceptions[code](description=message)
    error.tecopio_message = True
    raise error
