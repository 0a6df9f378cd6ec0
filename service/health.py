"""Liveness and readiness probes for the platform's router and orchestrator.

``/livez`` says the process can answer at all (restart it if not); ``/readyz`` says it can do
useful work: the database answers and, when configured, Redis does too. Both checks use their
own short timeouts, so a dead dependency makes the probe fail fast with 503 instead of hanging
until the prober gives up. Neither touches Stripe: an outage there is not ours to restart for.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Flask, jsonify
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from . import extensions
from .settings import Settings

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
CHECK_TIMEOUT_SECONDS = 2


def _probe_engine(settings: Settings, app_engine: Engine) -> Engine:
    if app_engine.dialect.name == "sqlite":
        return app_engine
    # A separate, unpooled engine: a probe must not wait behind donors for a pooled connection
    # (pool_timeout is 5 s), and its connect timeout must be shorter than the prober's.
    return create_engine(
        settings.database_url,
        poolclass=NullPool,
        connect_args={
            "connect_timeout": CHECK_TIMEOUT_SECONDS,
            "options": f"-c statement_timeout={CHECK_TIMEOUT_SECONDS * 1000}",
        },
    )


def check_database() -> str | None:
    """None when the database answers, else a short reason."""
    try:
        with extensions.health_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return type(exc).__name__
    return None


def check_redis() -> str | None:
    settings: Settings = extensions.settings()
    if not settings.redis_url:
        return None
    import redis

    client = redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS / 2,
        socket_timeout=CHECK_TIMEOUT_SECONDS / 2,
    )
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return type(exc).__name__
    finally:
        client.close()
    return None


@bp.get("/livez")
def livez() -> Any:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    settings: Settings = extensions.settings()
    checks: dict[str, dict[str, Any]] = {}
    for name, check, configured in (
        ("database", check_database, True),
        ("redis", check_redis, bool(settings.redis_url)),
    ):
        if not configured:
            checks[name] = {"status": "not_configured"}
            continue
        started = time.perf_counter()
        problem = check()
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        checks[name] = {"status": "down" if problem else "ok", "elapsed_ms": elapsed_ms}
        if problem:
            log.warning("readiness_check_failed", extra={"check": name, "reason": problem})
    ready = all(c["status"] != "down" for c in checks.values())
    response = jsonify({"status": "ok" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def init_health(app: Flask, settings: Settings) -> None:
    extensions.set_health_engine(app, _probe_engine(settings, extensions.database(app).engine))
