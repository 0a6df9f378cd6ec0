"""gunicorn settings. Donations spend most of their time waiting on Stripe, so workers are
gevent: a waiting request costs a greenlet, not a worker. Time limits nest:
Stripe timeout x attempts < worker timeout (WORKER_TIMEOUT_SECONDS) < the PaaS router's 30 s."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
timeout = int(os.environ.get("WORKER_TIMEOUT_SECONDS", "25"))
graceful_timeout = 20
keepalive = 5
# Our JSON access line is written by the app with the request id; gunicorn's would duplicate it.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
