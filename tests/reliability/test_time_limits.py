"""Time limits nest: Stripe timeout x attempts < gunicorn's worker timeout < the router's 30 s."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
ROUTER_TIMEOUT_SECONDS = 30


def gunicorn_config(monkeypatch: Any, **env: str) -> dict[str, Any]:
    # gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR if it is unset; through monkeypatch it is
    # put back afterwards, so later tests in this process keep single-process metrics.
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(ROOT / "test-artifacts" / "unused-metrics"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def worst_stripe_call(settings: Settings) -> float:
    # stripe-python's back-off between attempts is at most 2 s each (settings.py allows for it).
    return (
        settings.stripe_timeout_seconds * (settings.stripe_max_retries + 1) + settings.stripe_max_retries * 2
    )


def test_defaults_nest(monkeypatch: Any) -> None:
    monkeypatch.delenv("WORKER_TIMEOUT_SECONDS", raising=False)
    settings = load_settings({})
    config = gunicorn_config(monkeypatch)
    assert worst_stripe_call(settings) < config["timeout"] < ROUTER_TIMEOUT_SECONDS
    assert config["timeout"] == settings.worker_timeout_seconds
    assert config["graceful_timeout"] < ROUTER_TIMEOUT_SECONDS


@pytest.mark.parametrize("worker_timeout", ["10", "20", "29"])
def test_gunicorn_reads_the_same_worker_timeout_as_the_app(monkeypatch: Any, worker_timeout: str) -> None:
    env = {"WORKER_TIMEOUT_SECONDS": worker_timeout, "STRIPE_TIMEOUT_SECONDS": "2", "STRIPE_MAX_RETRIES": "1"}
    settings = load_settings(env)
    config = gunicorn_config(monkeypatch, **env)
    assert config["timeout"] == settings.worker_timeout_seconds == int(worker_timeout)
    assert worst_stripe_call(settings) < config["timeout"]


def test_a_stripe_budget_that_does_not_fit_the_worker_is_refused_at_start_up() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(
            {"WORKER_TIMEOUT_SECONDS": "10", "STRIPE_TIMEOUT_SECONDS": "5", "STRIPE_MAX_RETRIES": "2"}
        )
    assert "WORKER_TIMEOUT_SECONDS" in str(error.value)


def test_a_worker_timeout_at_or_past_the_router_is_refused() -> None:
    with pytest.raises(SettingsError):
        load_settings({"WORKER_TIMEOUT_SECONDS": str(ROUTER_TIMEOUT_SECONDS)})


def test_metrics_directory_and_hooks_are_configured(monkeypatch: Any, tmp_path: Path) -> None:
    config = gunicorn_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m"))
    assert callable(config["child_exit"]) and callable(config["on_starting"])
    config["on_starting"](None)
    assert (tmp_path / "m").is_dir()
