"""Secrets and personal data never reach the logs, whatever code logs them."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import stripe

from service.log_redaction import ANY_PATTERN, PATTERNS, RedactingFilter, redact
from service.logging_setup import JsonFormatter

from ..log_capture import find_leaks

SECRETS = [
    "sk_live_51HxYzAbCdEfGhIjKlMnOp",
    "rk_test_51HxYzAbCdEfGhIjKlMnOp",
    "whsec_abcdefABCDEF0123456789",
    "t=1764064800,v1=" + "a" * 64 + ",v0=" + "b" * 64,
    "Bearer fin_0123456789abcdef",
    "donor.name+tag@example.org",
]


def capture(filter_on: bool = True) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    if filter_on:
        handler.addFilter(RedactingFilter())
    logger = logging.getLogger(f"test.redaction.{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_each_kind_of_secret_is_redacted_from_text() -> None:
    for secret in SECRETS:
        cleaned = redact(f"before {secret} after")
        assert "[redacted]" in cleaned and cleaned.startswith("before ") and cleaned.endswith(" after")
        assert not find_leaks(cleaned), (secret, cleaned)


def test_ordinary_identifiers_are_left_alone() -> None:
    text = "don_0123abcd cs_test_a1b2 evt_123 pi_456 status=paid postgres@127.0.0.1 req_abc"
    assert redact(text) == text


def test_secrets_in_messages_arguments_and_extra_fields_are_redacted() -> None:
    logger, stream = capture()
    logger.info("key %s signature %s", SECRETS[0], SECRETS[3], extra={"email": SECRETS[5], "n": 3})
    logger.info("webhook secret " + SECRETS[2], extra={"headers": {"Authorization": SECRETS[4]}})
    output = stream.getvalue()
    assert not find_leaks(output), output
    first = json.loads(output.splitlines()[0])
    assert first["n"] == 3 and first["email"] == "[redacted]"


def test_stripe_signature_error_with_the_payload_inside_is_redacted() -> None:
    # stripe-python's SignatureVerificationError carries the whole body, donor email included.
    payload = json.dumps({"data": {"object": {"customer_details": {"email": SECRETS[5]}}}})
    logger, stream = capture()
    try:
        stripe.Webhook.construct_event(payload, SECRETS[3], "whsec_wrong_secret_value")
    except stripe.SignatureVerificationError as exc:
        logger.exception("webhook_rejected %s", exc, extra={"body": exc.http_body, "sig": exc.sig_header})
    output = stream.getvalue()
    assert "webhook_rejected" in output
    assert not find_leaks(output), output


def test_without_the_filter_the_check_would_catch_the_leak() -> None:
    logger, stream = capture(filter_on=False)
    logger.info("email %s key %s", SECRETS[5], SECRETS[0])
    kinds = {kind for _, kind in find_leaks(stream.getvalue())}
    assert {"email", "stripe_key"} <= kinds


def test_the_app_puts_the_filter_on_every_root_handler(app: Any) -> None:
    handlers = logging.getLogger().handlers
    assert handlers
    ours = [
        h for h in handlers if h.get_name() == "test-run-capture" or getattr(h, "_donation_router", False)
    ]
    assert ours
    for handler in ours:
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)


def test_a_donor_email_sent_through_the_api_is_not_logged(client: Any, caplog: Any) -> None:
    email = "someone.private@example.com"
    caplog.set_level(logging.INFO)
    client.post(
        "/api/v1/donations",
        json={"appeal": "red-cross-ukraine", "amount": 2500, "currency": "gbp", "email": email},
    )
    client.post("/api/v1/donations", data=f'{{"email": "{email}", ', content_type="application/json")
    assert all(email not in record.getMessage() for record in caplog.records)


def test_the_one_pass_check_finds_exactly_what_the_patterns_find() -> None:
    """redact() skips its substitutions when ANY_PATTERN finds nothing: it must never miss what
    one of the patterns would have found (in any case, anywhere in the text)."""
    texts = [
        *SECRETS,
        *(f"error: {secret} in header" for secret in SECRETS),
        "BEARER abcdefgh12", "authorization: bearer   x.y~z+/=-abc", "Bearer short",
        "request", "POST", "/api/v1/donations", "don_3f9a0c1e2b4d", "cs_test_a1B2c3",
        "sk_abc", "risk_test_case", "v1=abc", "t=12, v1=", "user@localhost", "a@b.co",
        "", "ünïcödé ✓ sk_live_Ωx",
    ]  # fmt: skip
    for text in texts:
        by_patterns = any(pattern.search(text) for pattern in PATTERNS)
        assert (ANY_PATTERN.search(text) is not None) == by_patterns, text
        expected = text
        for pattern in PATTERNS:
            expected = pattern.sub("[redacted]", expected)
        assert redact(text) == expected, text


def test_configured_logging_does_not_look_up_the_thread_or_caller_for_each_line(app: Any) -> None:
    """configure_logging turns off the per-record thread and caller lookups (gevent's get_ident
    and a stack walk under load); the lines it writes are the same without them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("service.test_lookups")
    logger.addHandler(handler)
    records: list[logging.LogRecord] = []
    handler.addFilter(lambda record: records.append(record) or True)
    try:
        logger.warning("request", extra={"status": 201})
    finally:
        logger.removeHandler(handler)
    record = records[0]
    assert record.thread is None and record.threadName is None
    assert record.lineno == 0 and record.funcName == "(unknown function)"  # no stack walk
    line = json.loads(stream.getvalue())
    assert line["event"] == "request" and line["status"] == 201
    assert "thread" not in line and "threadName" not in line
