"""The app the tests share (the ``app`` fixture): built once, made fresh before each test and put
back after it, so a test sees what ``create_app`` on an empty, seeded database would give."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import inspect

from service import create_app, extensions
from service.appeals import SEED_FILE, load_file
from service.settings import Settings
from service.tables import Base


class BuiltApp:
    """One app the tests share, and what it looked like when built, to put back after each test."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app({"TESTING": True}, settings=settings)
        self.config = dict(self.app.config)
        self.view_functions = dict(self.app.view_functions)
        self.wsgi_app = self.app.wsgi_app
        self.gateway = extensions.stripe_gateway(self.app)
        self.gateway_state = dict(vars(self.gateway))

    def fresh(self, sandbox: Any) -> Flask:
        """What ``create_app`` on an empty, seeded database would give, without building it again."""
        return made_fresh(self.app, self.settings, sandbox)

    def put_back(self) -> None:
        """Undo what a test may have changed on the app itself."""
        app = self.app
        extensions.set_settings(app, self.settings)
        app.config.clear()
        app.config.update(self.config)
        app.view_functions.clear()
        app.view_functions.update(self.view_functions)
        app.wsgi_app = self.wsgi_app  # type: ignore[method-assign]
        extensions.set_stripe_gateway(app, self.gateway)
        for name in set(vars(self.gateway)) - set(self.gateway_state):
            delattr(self.gateway, name)
        vars(self.gateway).update(self.gateway_state)
        # Closed rather than kept: a test may have killed the database's connections under it.
        extensions.database(app).engine.dispose()

    def dispose(self) -> None:
        extensions.database(self.app).engine.dispose()


def made_fresh(app: Flask, settings: Settings, sandbox: Any) -> Flask:
    """``app`` as ``create_app`` on an empty, seeded database would give it: tables emptied and the
    sample appeal seeded, the sandbox reset, caches, rate-limit counts and first-use objects
    forgotten (``BuiltApp.fresh``; a test that compares two runs starts each from here too)."""
    from service.jobs import init_jobs
    from service.logging_setup import configure_logging

    sandbox.control.reset()
    configure_logging(settings.log_level)
    init_jobs(app, settings)  # the job queue is the process's: another app may have configured it
    extensions.forget_made_on_first_use(app)  # webhook rejections, manage-link request limits
    extensions.appeal_cache(app).clear()
    extensions.progress_cache(app).clear()
    extensions.rate_limiter(app).reset()
    with extensions.database(app).sessionmaker.begin() as db:
        # A test may have migrated the schema down: empty only the tables there are.
        existing = set(inspect(db.connection()).get_table_names())
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in existing:
                db.execute(table.delete())
        load_file(db, SEED_FILE)
    return app
