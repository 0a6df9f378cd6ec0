"""The WSGI application: Stripe API under /v1, hosted checkout under /c/pay,
scenario controls under /_sandbox, and a one-line log per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox import api_checkout, api_resources, controls, hosted, payment_links, payments, portal
from sandbox.api import Api
from sandbox.config import Options
from sandbox.core import Sandbox

log = logging.getLogger("sandbox")


class SandboxApp:
    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self.sandbox = Sandbox(self.options, expire_session=payments.expire_due)
        self.api = Api(self.sandbox, api_checkout.ROUTES + api_resources.ROUTES + portal.ROUTES)
        self.controls = controls.Controls(self.sandbox)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        started = time.perf_counter()
        request = Request(environ)
        path = request.path
        if path.startswith("/v1/"):
            response = self.api.handle(request)
        elif path.startswith("/c/pay/"):
            response = hosted.handle(self.sandbox, request)
        elif path.startswith(portal.PORTAL_PATH):
            response = portal.handle(self.sandbox, request)
        elif path.startswith("/c/link/") and request.method == "GET":
            reference = request.args.get("client_reference_id")
            response = payment_links.open_link(self.sandbox, path[len("/c/link/") :], reference)
        elif path.startswith("/_sandbox"):
            response = self.controls.handle(request)
        elif path == "/":
            response = hosted.index(self.sandbox)
        else:
            response = Response("Not found", status=404, mimetype="text/plain")
        if self.options.log_requests:
            # Never the Authorization header, nor query strings (they may carry emails).
            ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.1fms", request.method, path, response.status_code, ms)
        return response(environ, start_response)

    def close(self) -> None:
        self.sandbox.close()
