"""Signed, optionally expiring tokens for links sent by email."""

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class TokenError(Exception):
    """The token was tampered with or is not ours."""


class TokenExpired(TokenError):
    """The token was ours but is too old."""


def sign(secret_key: str, purpose: str, payload) -> str:
    return URLSafeTimedSerializer(secret_key, salt=f"tecopio.{purpose}").dumps(payload)


def unsign(secret_key: str, purpose: str, token: str, max_age: int | None = None):
    serializer = URLSafeTimedSerializer(secret_key, salt=f"tecopio.{purpose}")
    try:
        return serializer.loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenExpired from exc
    except BadSignature as exc:
        raise TokenError from exc
