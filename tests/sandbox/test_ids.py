"""sandbox/ids.py: ids shaped like Stripe's (letters and digits, the usual lengths), never repeated."""

from __future__ import annotations

import re
import string

from sandbox.ids import new_id, random_token


def test_a_token_is_letters_and_digits_of_the_asked_length_and_uses_all_62_of_them() -> None:
    tokens = [random_token(58) for _ in range(2000)]
    assert all(re.fullmatch(r"[A-Za-z0-9]{58}", token) for token in tokens)
    assert len(set(tokens)) == len(tokens)
    assert set("".join(tokens)) == set(string.ascii_letters + string.digits)
    assert random_token(0) == ""


def test_ids_have_stripes_prefixes_and_lengths() -> None:
    assert re.fullmatch(r"cs_test_[A-Za-z0-9]{58}", new_id("cs"))
    assert re.fullmatch(r"cus_[A-Za-z0-9]{14}", new_id("cus"))
    assert re.fullmatch(r"pi_[A-Za-z0-9]{24}", new_id("pi"))
