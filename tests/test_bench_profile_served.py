"""bench/profile_served.py: how py-spy's samples are put in the README's buckets."""

from __future__ import annotations

from pathlib import Path

from bench.profile_served import buckets

STRIPE = "create_checkout_session (service/stripe_gateway.py:301)"
CREATE = "create_donation (service/donations/create.py:210)"
INSERT = "insert_donation (service/donations/writes.py:44)"
FAST = "answer (service/api/donation_fast_path.py:2)"
FORM = "answer (service/pages/form_fast_path.py:8)"


def test_each_sample_counts_once_in_the_first_bucket_on_its_stack(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "\n".join(
            [
                f"handle (gunicorn/workers/ggevent.py:1);wsgi_app (flask/app.py:2);{CREATE};ensure (x.py:1);{STRIPE} 7",
                f"wsgi_app (flask/app.py:2);{CREATE};{INSERT};execute (psycopg/cursor.py:3) 3",
                f"wsgi_app (flask/app.py:2);{CREATE};find (service/appeal_cache.py:9) 2",
                "wsgi_app (flask/app.py:2);full_dispatch_request (flask/app.py:5) 1",
                "run (gevent/hub.py:4) 5",
                # In front of Flask (service/api/donation_fast_path.py): the same buckets, or its own.
                f"__call__ (service/api/donation_fast_path.py:1);{FAST};{CREATE};{STRIPE} 4",
                f"{FAST};_loaded (service/api/donation_fast_path.py:3);load (marshmallow/schema.py:4) 2",
                f"{FAST};write_access_line (service/http_hooks.py:5);emit (logging/__init__.py:6) 1",
                f"{FAST};target_and_headers_refusal (service/request_limits.py:7) 1",
                # The donate form's, in front of Flask too (service/pages/form_fast_path.py).
                f"{FORM};_loaded (service/pages/form_fast_path.py:9);load_form (schemas/donate_form.py:1) 3",
                f"{FORM};submit (service/pages/donate.py:2);{CREATE};{STRIPE} 2",
                f"{FORM};redirect (flask/app.py:3) 1",
                "a line py-spy did not write",
            ]
        )
    )
    found, total = buckets(raw)
    assert total == 32
    assert found == {
        "the Stripe call (stripe-python, HTTP, decoding)": 13,  # not also create_donation's
        "the row's INSERT, before Stripe": 3,
        "the rest of create_donation": 2,
        "validation (webargs, marshmallow load)": 5,
        "request hooks (limits, access line, metrics)": 1,
        "Flask (contexts, routing)": 1,
        "the donation fast path's checks and answer": 1,
        "the form fast path's checks and answer": 1,
        "gunicorn and gevent": 5,
    }
