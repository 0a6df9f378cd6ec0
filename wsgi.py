"""WSGI entry point for gunicorn and ``flask --app wsgi``."""

from service import create_app
from service.gc_tuning import tune_for_serving

app = create_app()
# After the app and everything it imports are loaded: see service/gc_tuning.py.
tune_for_serving()
