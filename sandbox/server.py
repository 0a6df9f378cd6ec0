"""Serving the sandbox: in a background thread (test fixtures), in a subprocess,
or in the foreground (``python -m sandbox``)."""

from __future__ import annotations

import contextlib
import email.parser
import gc
import http.client
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from sandbox.api import Api
from sandbox.app import SandboxApp
from sandbox.config import Options
from sandbox.control_client import SandboxControl
from sandbox.core import Sandbox


def _no_delay(sock: Any) -> None:
    # Answers go out in more than one write; with Nagle on, a kept-alive client's delayed ACK
    # holds the second write back for 40 ms (seen as every sandbox call taking 46 ms).
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Handler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        _no_delay(self.connection)

    # The app logs one line per request itself; werkzeug's own line would repeat it
    # and include the query string.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _Server(ThreadedWSGIServer):
    # Benchmarks keep 150+ requests in flight; the default backlog of 128 would
    # turn bursts into connection resets.
    request_queue_size = 1024
    daemon_threads = True


def make_server(options: Options) -> tuple[_Server, SandboxApp]:
    app = SandboxApp(options)
    server = _Server(options.host, options.port, app, handler=_Handler)
    if options.port == 0:
        # Only now is the real port known; session URLs must carry it.
        options.port = server.server_port
        if not options.public_url:
            app.sandbox.base_url = f"http://{options.host}:{options.port}"
    return server, app


@dataclass
class RunningSandbox:
    base_url: str
    control: SandboxControl
    state: Sandbox
    _server: _Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _app: SandboxApp = field(repr=False)

    @property
    def api(self) -> Api:
        """The /v1 API: its ``routes`` and ``url_map`` (the conformance test drives each route)."""
        return self._app.api

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._app.close()
        self._thread.join(timeout=5)


def start_in_thread(port: int = 0, **options: Any) -> RunningSandbox:
    """Serve on 127.0.0.1:``port`` (0 picks a free one) from a daemon thread.

    ``options`` are fields of :class:`sandbox.config.Options`, e.g.
    ``webhook_urls=[...]``, ``webhook_secrets=[...]``, ``latency_ms=...``.
    """
    options.setdefault("log_requests", False)
    opts = Options(port=port, **options)
    server, app = make_server(opts)
    thread = threading.Thread(target=server.serve_forever, name="sandbox", daemon=True)
    thread.start()
    base_url = app.sandbox.base_url
    return RunningSandbox(base_url, SandboxControl(base_url), app.sandbox, server, thread, app)


def serve_forever(options: Options) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if options.server == "gevent":
        _serve_gevent(options)
        return
    server, app = make_server(options)
    # SIGTERM (docker stop, Popen.terminate) must still flush the state file.
    signal.signal(signal.SIGTERM, _interrupt)
    # The first line tells a parent process (or a person) where the API is.
    print(f"Stripe sandbox listening on {app.sandbox.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.close()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def keep_collections_short() -> None:
    """Keep Python's full garbage collections from walking every object the sandbox ever made.

    The sandbox keeps every object it creates (a benchmark makes hundreds of thousands of
    Checkout Sessions, each a hundred-odd dicts and lists), so each full collection walked a
    heap that only grows, and the server stood still meanwhile: every request in flight, the
    service's and the baseline's alike, waited out the pause (bench/README.md, "Issue 19"). What
    a full collection leaves alive is kept for good here anyway: after each one it is frozen
    (``gc.freeze``: moved "to a permanent generation and ignore[d] in all the future
    collections", Python's gc documentation), so the next full collection walks only what was
    made since. The young generations are collected as before (the service's own setting is
    service/gc_tuning.py; the sandbox imports nothing from service/).
    """

    def freeze_after_full_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info.get("generation") == 2:
            gc.freeze()

    gc.collect()
    gc.freeze()
    gc.callbacks.append(freeze_after_full_collection)


# A header line as nearly every client sends it: a token, a colon, printable ASCII (tabs allowed).
# The value is greedy (it cannot hold the line end anyway): a lazy one tries the line end after
# every character, which made matching twice as slow.
_PLAIN_HEADER = re.compile(r"([\x21-\x39\x3b-\x7e]+):[ \t]*([\t\x20-\x7e]*)\r?\n")


def quick_message(lines: list[bytes], message_class: type[http.client.HTTPMessage]
                  ) -> http.client.HTTPMessage | None:  # fmt: skip
    """The message the email package's parser makes of a header block (``compat32`` policy), made
    directly, or None if the block is anything but plain ``Name: value`` lines and its blank line.

    Built as that parser builds it: each header as ``header_source_parse`` returns it (the name as
    sent, the value without leading blanks or the line end), then an empty payload. A Content-Type
    of ``message/*`` or ``multipart/*`` sends the parser down other paths (nested messages, defects),
    so those are left to it too.
    """
    if lines[-1] not in (b"\r\n", b"\n"):
        return None
    fields = []
    for line in lines[:-1]:
        plain = _PLAIN_HEADER.fullmatch(line.decode("iso-8859-1"))
        if plain is None:
            return None
        fields.append((plain[1], plain[2]))
    message = message_class()
    message._headers = fields  # noqa: SLF001 - what the parser's set_raw appends to
    if message.get_content_maintype() in ("message", "multipart"):
        return None
    message.set_payload("")
    return message


def parse_headers(fp: Any, message_class: type[http.client.HTTPMessage]) -> http.client.HTTPMessage:
    """``http.client.parse_headers(fp, _class=message_class)``, quicker for plain header blocks.

    The standard one hands every request's headers to the email package's general parser (folded
    lines, mailbox ``From`` lines, defects): 7.6 % of the sandbox's CPU in a py-spy profile under
    load, CPU taken from the service it shares the cores with in a benchmark. The lines are read by
    http.client's own reader, with its limits on line length and count; anything unusual goes to
    the standard parser. (service/stripe_gateway.py does the same for its responses; the sandbox
    imports nothing from service/.)
    """
    lines = http.client._read_headers(fp)  # noqa: SLF001 - parse_headers' own reader
    message = quick_message(lines, message_class)
    if message is None:
        message = email.parser.Parser(_class=message_class).parsestr(b"".join(lines).decode("iso-8859-1"))
    return message


def _serve_gevent(options: Options) -> None:
    import gevent
    from gevent.pywsgi import OldMessage, WSGIHandler, WSGIServer

    class Handler(WSGIHandler):
        # gevent's own headers_factory (pywsgi.py), with parse_headers above in place of
        # http.client's: the same OldMessage, "Line too long" status included.
        def MessageClass(self, fp: Any, *args: Any) -> Any:  # gevent names it so
            try:
                return parse_headers(fp, OldMessage)
            except http.client.LineTooLong:
                message = OldMessage()
                message.status = "Line too long"
                return message

        def __init__(self, sock: Any, address: Any, server: Any, *args: Any, **kwargs: Any) -> None:
            _no_delay(sock)
            super().__init__(sock, address, server, *args, **kwargs)

        # The "lose the response" fault closes the client's socket, as werkzeug exposes it.
        def get_environ(self) -> dict[str, Any]:
            environ = super().get_environ()
            environ["werkzeug.socket"] = self.socket
            return environ

    app = SandboxApp(options)
    server = WSGIServer((options.host, options.port), app, log=None, backlog=1024, handler_class=Handler)
    server.init_socket()
    if options.port == 0:
        options.port = server.server_port
        if not options.public_url:
            app.sandbox.base_url = f"http://{options.host}:{options.port}"
    # SIGTERM stops the server cleanly so the state file is flushed.
    gevent.signal_handler(signal.SIGTERM, server.stop)
    keep_collections_short()
    print(f"Stripe sandbox listening on {app.sandbox.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(timeout=1)
        app.close()


@dataclass
class SandboxProcess:
    base_url: str
    control: SandboxControl
    process: subprocess.Popen[str]

    def stop(self, timeout: float = 5.0) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


def start_subprocess(*args: str, env: dict[str, str] | None = None, timeout: float = 15.0
                     ) -> SandboxProcess:  # fmt: skip
    """Run ``python -m sandbox ARGS`` (default ``--port 0``) and wait until it serves."""
    if not any(a.startswith("--port") for a in args):
        args = ("--port", "0", *args)
    root = Path(__file__).resolve().parent.parent
    proc_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", *args],
        cwd=root, env=proc_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "listening on " in line:
            base_url = line.rsplit("listening on ", 1)[1].strip()
            # Keep draining output so the child never blocks on a full pipe.
            threading.Thread(target=_drain, args=(proc,), daemon=True).start()
            return SandboxProcess(base_url, SandboxControl(base_url), proc)
    proc.kill()
    proc.wait()
    proc.stdout.close()
    raise RuntimeError("sandbox subprocess did not start")


def _drain(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    with proc.stdout:  # closed at end of output (the process has exited), not left to GC
        for _ in proc.stdout:
            pass
