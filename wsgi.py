"""WSGI entry point for gunicorn and ``flask --app wsgi``."""

from service import create_app

app = create_app()
