"""Entry point: ``flask --app app run`` and ``gunicorn app:app`` both use it."""

from tecopio import create_app

app = create_app()
