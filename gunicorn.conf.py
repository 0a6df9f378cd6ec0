"""gunicorn settings.

Donations spend most of their time waiting on Stripe, so with PostgreSQL the workers are gevent:
a waiting request costs a greenlet, not a worker. SQLite (the embedded default) is different: its
lock waits are blocking C calls that would freeze every greenlet in the worker, so there the
workers are threads, which release the GIL while they wait.

Time limits nest: Stripe timeout x attempts < worker timeout (WORKER_TIMEOUT_SECONDS) < the PaaS
router's 30 s.
"""

import os

_sqlite = os.environ.get("DATABASE_URL", "sqlite").startswith("sqlite")

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread" if _sqlite else "gevent")
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = int(os.environ.get("WORKER_TIMEOUT_SECONDS", "25"))
graceful_timeout = 20
keepalive = 5
# Our JSON access line is written by the app with the request id; gunicorn's would duplicate it.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
