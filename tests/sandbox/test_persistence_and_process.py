"""``--state FILE`` keeps state across restarts; ``python -m sandbox`` as a process."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import stripe
from werkzeug.test import Client

from sandbox.app import SandboxApp
from sandbox.config import Options, parse_args
from sandbox.server import start_in_thread, start_subprocess


def _session_params():
    return {
        "mode": "payment",
        "success_url": "https://donate.example/thanks",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "eur", "unit_amount": 1000, "product_data": {"name": "Sudan appeal"}}}],
    }  # fmt: skip


def test_state_survives_restart_of_a_subprocess(tmp_path):
    """First under gevent (python -m sandbox's default), then under the threaded server."""
    state = tmp_path / "sandbox-state.json"
    first = start_subprocess("--state", str(state), "--quiet")
    try:
        client = stripe.StripeClient("sk_test_p", base_addresses={"api": first.base_url})
        first.control.lose_next_response(1, path_prefix="/v1/checkout/sessions")
        with pytest.raises(stripe.APIConnectionError):  # gevent can drop connections too
            client.v1.checkout.sessions.create(
                params=_session_params(), options={"idempotency_key": "persist-1"}
            )
        session = client.v1.checkout.sessions.create(
            params=_session_params(), options={"idempotency_key": "persist-1"}
        )
        first.control.complete_session(session.id)
    finally:
        first.stop()
    assert json.loads(state.read_text())["objects"][session.id]["status"] == "complete"

    second = start_subprocess("--state", str(state), "--quiet", "--server", "threaded")
    try:
        second.control.wait_until_ready()
        client = stripe.StripeClient("sk_test_p", base_addresses={"api": second.base_url})
        got = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
        assert (got.payment_status, got.payment_intent.status) == ("paid", "succeeded")
        replay = client.v1.checkout.sessions.create(
            params=_session_params(), options={"idempotency_key": "persist-1"}
        )
        assert replay.id == session.id
        assert replay.last_response.headers["Idempotent-Replayed"] == "true"
        # The hosted page URL follows the new port.
        assert requests.get(f"{second.base_url}/c/pay/{session.id}", timeout=5).status_code == 200
    finally:
        second.stop()


def test_in_process_state_file_is_written_atomically(tmp_path):
    state = tmp_path / "s.json"
    running = start_in_thread(state_file=str(state))
    try:
        client = stripe.StripeClient("sk_test_p", base_addresses={"api": running.base_url})
        client.v1.checkout.sessions.create(params=_session_params())
        running.state.store.flush()  # writes are batched; flush instead of waiting
        assert len(json.loads(state.read_text())["objects"]) == 3  # session, product, price
        assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temp files left
        running.control.reset()
        assert json.loads(state.read_text())["objects"] == {}
    finally:
        running.stop()


def test_options_from_flags_and_environment():
    env = {
        "SANDBOX_PORT": "12345",
        "SANDBOX_WEBHOOK_URLS": "http://a/hook, http://b/hook",
        "SANDBOX_WEBHOOK_SECRETS": "whsec_a",
        "SANDBOX_LATENCY_MS": "300",
        "SANDBOX_RATE_LIMIT": "25",
        "SANDBOX_HOST": "127.0.0.2",
    }
    opts = parse_args([], env)
    assert (opts.port, opts.host, opts.latency_ms, opts.rate_limit) == (12345, "127.0.0.2", 300, 25)
    assert opts.webhook_urls == ["http://a/hook", "http://b/hook"]
    assert opts.secrets() == ["whsec_a"]
    flags = parse_args(
        ["--port", "1", "--webhook-url", "http://c", "--webhook-url", "http://d",
         "--fee", "gbp=2+10", "--state", "x.json"], env,
    )  # fmt: skip
    assert flags.port == 1 and flags.webhook_urls == ["http://c", "http://d"]
    assert flags.fees["gbp"].on(1000) == 30 and flags.state_file == "x.json"
    assert parse_args(["--webhook-url", "http://c"], {}).secrets() == ["whsec_sandbox"]
    assert parse_args([], {}).settlement_currency is None
    assert parse_args([], {"SANDBOX_SETTLEMENT_CURRENCY": "GBP"}).settlement_currency == "gbp"
    assert parse_args(["--settlement-currency", "eur"], {}).settlement_currency == "eur"


def test_settlement_currency_is_a_runtime_switch_that_reset_puts_back(sandbox):
    sandbox.control.configure(settlement_currency="gbp", exchange_rates={"eur": 0.8})
    assert sandbox.control.settings()["settlement_currency"] == "gbp"
    sandbox.control.configure(settlement_currency="")
    assert sandbox.control.settings()["settlement_currency"] is None
    sandbox.control.configure(settlement_currency="gbp")
    sandbox.control.reset()
    settings = sandbox.control.settings()
    assert (settings["settlement_currency"], settings["exchange_rates"]) == (None, {})


def test_request_log_has_no_credentials():
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("sandbox")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        app = SandboxApp(Options(log_requests=True))
        Client(app).get("/v1/charges?limit=3", headers={"Authorization": "Bearer sk_test_secretvalue"})
        app.close()
    finally:
        logger.removeHandler(handler)
    (line,) = records
    assert line.startswith("GET /v1/charges 200 ")
    assert "sk_test" not in line and "limit" not in line
