"""Embedding for publishers: the ``/embed.js`` widget script, its config and the snippet page."""

from .views import bp

__all__ = ["bp"]
