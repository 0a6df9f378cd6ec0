"""The job worker's entry point: ``huey_consumer service.worker.huey`` (the Procfile's ``worker:``).

Importing this module points the queue at Redis as the environment's settings say, before the
consumer starts taking jobs; the web processes configure the same queue in ``create_app``.
"""

from __future__ import annotations

from . import create_app
from .jobs import configure, huey, use_app_factory
from .settings import load_settings

configure(load_settings())
use_app_factory(create_app)

__all__ = ["huey"]
