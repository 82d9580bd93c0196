"""The WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``."""

from webriskops import create_app

app = create_app()
