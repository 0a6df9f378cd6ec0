"""gunicorn settings.

Donations spend most of their time waiting on Stripe, so with PostgreSQL the workers are gevent:
a waiting request costs a greenlet, not a worker. SQLite (the embedded default) is different: its
lock waits are blocking C calls that would freeze every greenlet in the worker, so there the
workers are threads, which release the GIL while they wait.

Time limits nest: Stripe timeout x attempts < worker timeout (WORKER_TIMEOUT_SECONDS) < the PaaS
router's 30 s.
"""

import os
import tempfile

_sqlite = os.environ.get("DATABASE_URL", "sqlite").startswith("sqlite")

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread" if _sqlite else "gevent")
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# Requests a gevent worker takes on at once. Past what its CPU serves within the time limits,
# more only stretch every request (a greenlet holding a database connection waits for the CPU
# behind all the others): measured at 128 a worker with a pool of 20 when a donation cost 14 ms
# of CPU (bench/README.md). Bounded near what the CPU serves, the excess waits in the listen
# backlog instead and is answered late but well. At about 4 ms of CPU per donation a worker
# serves 250 a second; 100 in flight cover that while Stripe takes 300 ms (250 x 0.35 s = 88).
# The 100 share DATABASE_POOL_SIZE connections: a request that finds them all busy queues for
# one, first come first served, while they keep coming back (service/db.py: QueueingPool),
# rather than fail after 5 s as SQLAlchemy's own pool did on a starved machine.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "100"))
timeout = int(os.environ.get("WORKER_TIMEOUT_SECONDS", "25"))
graceful_timeout = 20
keepalive = 5
# Our JSON access line is written by the app with the request id; gunicorn's would duplicate it.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Above the app's own limits (service/request_limits.py: a 4096-byte address, 8190-byte headers,
# 100 headers), so the app refuses first, in the JSON envelope on the API or as a donor's page;
# 8190 is the longest request line gunicorn allows.
limit_request_line = 8190
limit_request_field_size = 16380
limit_request_fields = 200


def _install_json_errors():
    """gunicorn's own refusals (past the limits above, or a malformed request) in the API's error
    envelope rather than its bare HTML page. gunicorn answers before any path is read, so it cannot
    tell an API request from a donor's; what gets this far is a program's, not a browser's. Kept here
    rather than in service/ so the arbiter imports nothing of the app before forking (gevent patches
    the workers after the fork). Replaces gunicorn.util.write_error, which every worker's
    handle_error calls; installed in the arbiter, so every forked worker inherits it."""
    import json

    from gunicorn import util

    codes = {400: "bad_request", 403: "forbidden", 414: "uri_too_long", 417: "expectation_failed",
             431: "headers_too_large", 500: "internal_error", 501: "not_implemented"}  # fmt: skip
    messages = {
        414: "The address is too long.",
        431: "The request headers are too large.",
        500: "Something went wrong on our side. Nothing was charged; please try again.",
    }

    def write_error(sock, status_int, reason, mesg):
        said = messages.get(status_int) or mesg or reason
        body = json.dumps({"error": {"code": codes.get(status_int, "http_error"), "message": said}}).encode()
        head = (
            f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        util.write_nonblock(sock, head.encode("latin-1") + body)

    util.write_error = write_error


_install_json_errors()

# Prometheus metrics from every worker add up in /metrics (service/metrics.py): each worker writes
# its values to files in this directory, which must be empty when the server starts and must be
# set before the app is imported, hence here rather than in the app.
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"donation-router-metrics-{os.getpid()}"),
)


def on_starting(server):  # noqa: ARG001 - gunicorn's hook signature
    import shutil

    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    from prometheus_client import multiprocess

    # Live gauges of a dead worker must not be summed any more; counters stay.
    multiprocess.mark_process_dead(worker.pid)
