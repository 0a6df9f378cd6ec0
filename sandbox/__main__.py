"""``python -m sandbox --port 12111 --webhook-url URL --webhook-secret whsec_...``"""

from sandbox.config import parse_args
from sandbox.server import serve_forever

if __name__ == "__main__":
    serve_forever(parse_args())
