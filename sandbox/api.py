"""Stripe's wire protocol around the resource handlers: auth, rate limit, faults,
latency, parameter decoding and validation, idempotency, expand, errors, headers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox import API_VERSION, connect, errors, listing
from sandbox.core import Sandbox
from sandbox.events import clear_origin, set_origin
from sandbox.ids import request_id
from sandbox.params import ParamError, decode_form, params_class, validate

log = logging.getLogger("sandbox")

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    rule: str  # werkzeug rule, e.g. "/v1/checkout/sessions/<id>"
    # handler(sb, params, **path_vars) -> response object; path variables keep Stripe's
    # own names (``id``), even where that shadows a builtin.
    handler: Handler
    params: str  # stripe.params class name checked by sandbox.params


class Api:
    def __init__(self, sb: Sandbox, routes: list[Route]) -> None:
        self.sb = sb
        self.routes = routes
        self.url_map = Map(
            [Rule(r.rule, endpoint=i, methods=[r.method]) for i, r in enumerate(routes)],
            strict_slashes=False,
        )
        # Requests holding an idempotency key right now: a second one must not run.
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        req_id = request_id()
        started = time.monotonic()
        try:
            response = self._handle(request, req_id)
        except errors.StripeError as exc:
            if exc.status != 429:  # Stripe's limiter answers at once
                # Errors raised before the latency sleep (auth, validation) wait it out too.
                self.sb.faults.sleep_latency(since=started)
            response = _error_response(exc, req_id)
        except Exception:
            # A sandbox bug must still look like Stripe to the client: a JSON 500.
            log.exception("unhandled error in %s %s", request.method, request.path)
            response = _error_response(errors.api_error(), req_id)
        finally:
            clear_origin()
            connect.set_account(None)
        if self.sb.sent_hook is not None:
            _report_sent(self.sb.sent_hook, request, response)
        return response

    # ------------------------------------------------------------------------
    def _handle(self, request: Request, req_id: str) -> Response:
        api_key = _authenticate(request)
        # Requests for a connected account see only its objects (sandbox/connect.py).
        connect.set_account(request.headers.get("Stripe-Account"))
        sb = self.sb
        if sb.faults.over_rate_limit():
            raise errors.rate_limited()
        try:
            endpoint, path_vars = self.url_map.bind("sandbox").match(request.path, method=request.method)
        except HTTPException:
            raise errors.unknown_url(request.method, request.path) from None
        route = self.routes[endpoint]

        raw, typed = _decode(request, route)
        idem = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        sb.store.record_request(
            {
                "id": req_id,
                "method": request.method,
                "path": request.path,
                "params": raw,
                "idempotency_key": idem,
                "at": time.time(),
            }
        )
        scope = None
        if idem:
            # Reserve the key before any latency or fault, as Stripe locks it on arrival:
            # a concurrent request with the same key then gets 409, never a second object.
            scope = f"{api_key}|{request.headers.get('Stripe-Account', '')}|{idem}"
            replay = self._replay(scope, idem, request, raw)
            if replay is not None:
                sb.faults.sleep_latency()
                return replay
        try:
            fault = sb.faults.take(request.method, request.path)
            if fault and fault.mode == "error":
                raise errors.injected(fault.status)
            if fault and fault.mode == "hang":
                fault.release.wait(fault.seconds)
            sb.faults.sleep_latency()
            status, text, headers = self._run(route, typed, path_vars, req_id, idem)
            if scope:
                self._remember(scope, request, raw, status, text, headers, req_id)
        finally:
            if scope:
                with self._in_flight_lock:
                    self._in_flight.discard(scope)
        if fault and fault.mode == "lose_response":
            _drop_connection(request, fault.drop)
            raise errors.StripeError(
                fault.status, "api_error", "An unknown error occurred (response lost by the sandbox)."
            )
        resp = _json(status, text, req_id, headers)
        if request.headers.get("Stripe-Version"):
            resp.headers["Stripe-Version"] = request.headers["Stripe-Version"]
        return resp

    def _run(
        self, route: Route, typed: dict[str, Any], path_vars: dict[str, str], req_id: str,
        idem: str | None,
    ) -> tuple[int, str, dict[str, str]]:  # fmt: skip
        """Run the handler; the response is serialised under the store lock, so it is a
        snapshot: later changes neither race with it nor leak into idempotent replays."""
        sb = self.sb
        set_origin(req_id, idem)
        try:
            with sb.store.lock:
                body = route.handler(sb, typed, **path_vars)
                body = listing.expand(sb.store, body, typed.get("expand") or ())
                if route.method != "GET":
                    sb.save()
                return 200, _dumps(body), {}
        except errors.StripeError as exc:
            if exc.before_execution:
                raise
            return exc.status, _dumps(exc.body(req_id)), exc.headers
        except ParamError as exc:
            raise errors.invalid(exc.message, param=exc.param, code=exc.code) from None

    def _replay(self, scope: str, key: str, request: Request, raw: dict[str, Any]) -> Response | None:
        with self._in_flight_lock:
            saved = self.sb.store.idempotency.get(scope)
            if saved is None:
                if scope in self._in_flight:
                    raise errors.StripeError(
                        409,
                        "idempotency_error",
                        "There is currently another in-progress request using this Idempotent "
                        f"Key (probably means you submitted twice, and the other request is still "
                        f"going through): {key}. Please try again later.",
                        code="idempotency_key_in_use",
                    )
                self._in_flight.add(scope)
                return None
        if saved["path"] != request.path or saved["method"] != request.method:
            raise errors.StripeError(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used for the same endpoint they were "
                f"first used for ('{saved['path']}' vs '{request.path}'). Try using a key other "
                f"than '{key}' if you meant to execute a different request.",
            )
        if saved["fingerprint"] != _fingerprint(raw):
            raise errors.StripeError(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
            )
        headers = dict(saved["headers"])
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = saved["request_id"]
        return _json(saved["status"], saved["body"], request_id(), headers)

    def _remember(
        self, scope: str, request: Request, raw: dict[str, Any], status: int,
        body: str, headers: dict[str, str], req_id: str,
    ) -> None:  # fmt: skip
        with self.sb.store.lock:
            self.sb.store.idempotency[scope] = {
                "method": request.method,
                "path": request.path,
                "fingerprint": _fingerprint(raw),
                "status": status,
                "body": body,
                "headers": headers,
                "request_id": req_id,
            }
            self.sb.save()


def _report_sent(hook: Any, request: Request, response: Response) -> None:
    """Hand the body just answered, with the request's expand[], to the sandbox's sent hook."""
    try:
        raw = decode_form(request.query_string if request.method in ("GET", "DELETE") else request.get_data())
    except ParamError:
        raw = {}
    expand = raw.get("expand") or []
    if isinstance(expand, dict):  # expand[0]=a&expand[1]=b
        expand = list(expand.values())
    hook(f"{request.method} {request.path}", json.loads(response.get_data()), list(expand))


def _authenticate(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    key = ""
    if header.lower().startswith("bearer "):
        key = header[7:].strip()
    elif request.authorization and request.authorization.username:
        key = request.authorization.username  # curl -u sk_test_...:
    if not key:
        raise errors.auth_missing()
    if not key.startswith(("sk_test_", "rk_test_")) or len(key) <= len("sk_test_"):
        raise errors.auth_invalid(key)
    return key


def _decode(request: Request, route: Route) -> tuple[dict[str, Any], dict[str, Any]]:
    """Raw decoded params (recorded, fingerprinted) and the validated, typed ones."""
    try:
        if request.method in ("GET", "DELETE"):
            raw = decode_form(request.query_string)
            is_json = False
        elif (request.mimetype or "") == "application/json":
            raw = json.loads(request.get_data() or b"{}")
            if not isinstance(raw, dict):
                raise errors.invalid("Invalid JSON body: expected an object.")
            is_json = True
        else:
            raw = decode_form(request.get_data())
            is_json = False
        typed = validate(params_class(route.params), raw, coerce_strings=not is_json)
    except ParamError as exc:
        raise errors.invalid(exc.message, param=exc.param, code=exc.code) from None
    except json.JSONDecodeError:
        raise errors.invalid("Invalid JSON body.") from None
    return raw, typed


def _sorted_json_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, sort_keys=True)`` for a dict from a request, from one C encoder made once.

    ``json.dumps`` with any option builds a JSONEncoder and then its C encoder on every call, and
    the encoder's circular-reference bookkeeping (``markers``) is of no use for a tree just parsed
    from a request: together a quarter of the time. Same text, so the same fingerprints as before,
    state files included.
    """
    reference = json.JSONEncoder(sort_keys=True)
    make = json.encoder.c_make_encoder
    if make is None:  # no C accelerator: the ordinary way
        return reference.encode
    encode = make(
        None,  # markers: no circular-reference check
        reference.default,
        json.encoder.encode_basestring_ascii,  # ensure_ascii
        reference.indent,
        reference.key_separator,
        reference.item_separator,
        reference.sort_keys,
        reference.skipkeys,
        reference.allow_nan,
    )
    return lambda value: "".join(encode(value, 0))


_sorted_json = _sorted_json_encoder()


def _fingerprint(raw: dict[str, Any]) -> str:
    return hashlib.sha256(_sorted_json(raw).encode()).hexdigest()


def _drop_connection(request: Request, drop: bool) -> None:
    """Close the client's socket so it sees a reset, as when a response is lost in transit."""
    sock = request.environ.get("werkzeug.socket")
    if drop and sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _dumps(body: dict[str, Any]) -> str:
    # Stripe pretty-prints its responses; clients parse them, and the whitespace means nothing to
    # them. Compact JSON is made by the C encoder (``indent`` falls back to pure Python's), which
    # halves the sandbox's CPU per Checkout Session: in a benchmark it shares the two cores with
    # the service it stands in front of (bench/README.md).
    return json.dumps(body, separators=(",", ":"))


def _json(status: int, body: str, req_id: str, headers: dict[str, str] | None = None) -> Response:
    resp = Response(body, status=status, mimetype="application/json")
    resp.headers["Request-Id"] = req_id
    resp.headers["Stripe-Version"] = API_VERSION
    resp.headers["Cache-Control"] = "no-cache, no-store"
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _error_response(exc: errors.StripeError, req_id: str) -> Response:
    headers = dict(exc.headers)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Stripe"'
    return _json(exc.status, _dumps(exc.body(req_id)), req_id, headers)
