"""Security headers, cookie flags and safe redirects."""

from urllib.parse import urlsplit

from flask import current_app, request
from flask_login import current_user

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, otherwise ``default``."""
    if not target:
        return default
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return default
    return target


def _add_security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    hsts_seconds = current_app.config["HSTS_SECONDS"]
    if current_app.config["TECOPIO_ENV"] == "production" and hsts_seconds > 0:
        # Sent on every response: behind a proxy that ends TLS the request
        # itself may look like plain HTTP, and browsers ignore it there anyway.
        response.headers.setdefault(
            "Strict-Transport-Security", f"max-age={hsts_seconds}; includeSubDomains"
        )
    if _is_personal(response):
        response.headers["Cache-Control"] = "no-store"
    return response


def _is_personal(response) -> bool:
    """Whether a response must stay out of every cache, the browser's included.

    Every page a logged-in person sees is about them or their groups, and
    every download (an export, a CSV of figures) is personal or confidential.
    Only the shared static files may be kept.
    """
    if request.endpoint == "static":
        return False
    if "attachment" in response.headers.get("Content-Disposition", ""):
        return True
    return current_user.is_authenticated


def init_app(app) -> None:
    if app.config["TECOPIO_ENV"] == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    app.after_request(_add_security_headers)
