"""``python -m sandbox --port 12111 --webhook-url URL --webhook-secret whsec_...``

By default this serves with gevent (monkey-patched here, and only here) so
hundreds of slow requests can be in flight with HTTP keep-alive; ``--server
threaded`` uses werkzeug's threaded server instead, as tests do in-process.
"""

import os
import sys


def _wants_gevent(argv: list[str]) -> bool:
    choice = os.environ.get("SANDBOX_SERVER", "gevent")
    for i, arg in enumerate(argv):
        if arg == "--server" and i + 1 < len(argv):
            choice = argv[i + 1]
        elif arg.startswith("--server="):
            choice = arg.split("=", 1)[1]
    return choice == "gevent"


if __name__ == "__main__":
    if _wants_gevent(sys.argv[1:]):
        # Must run before anything imports socket, threading or requests.
        from gevent import monkey

        monkey.patch_all()

    from sandbox.config import parse_args
    from sandbox.server import serve_forever

    serve_forever(parse_args())
