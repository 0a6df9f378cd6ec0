"""Stripe's rules for statement descriptors: what a donor reads on their card statement.

For card charges the statement shows the account's prefix (its "shortened descriptor"), ``* ``
and the charge's suffix. Stripe's requirements for the whole descriptor and its parts
(docs.stripe.com/get-started/account/statement-descriptors): Latin characters only; 5 to 22
characters in all, the ``*`` and the space included; at least one letter in the prefix and in
the suffix; none of ``< > \\ ' " *``; a prefix of 2 to 10 characters.
"""

from __future__ import annotations

FORBIDDEN = frozenset("<>\\'\"*")
MAX_TOTAL = 22
SEPARATOR = "* "
PREFIX_LENGTH = (2, 10)


def _character_problems(text: str) -> list[str]:
    problems = []
    if not all(" " <= ch <= "~" for ch in text):
        problems.append("may use only Latin letters, digits, spaces and punctuation (no accents)")
    if FORBIDDEN & set(text):
        problems.append("may not contain any of < > \\ ' \" *")
    if not any(ch.isascii() and ch.isalpha() for ch in text):
        problems.append("must contain at least one letter")
    return problems


def prefix_problems(prefix: str) -> list[str]:
    low, high = PREFIX_LENGTH
    problems = _character_problems(prefix)
    if not low <= len(prefix) <= high:
        problems.append(f"must be {low} to {high} characters")
    return problems


def longest_suffix(prefix: str | None) -> int:
    """How long a suffix may be beside ``prefix`` (unknown: Stripe's longest prefix)."""
    return MAX_TOTAL - len(SEPARATOR) - (len(prefix) if prefix else PREFIX_LENGTH[1])


def suffix_problems(suffix: str, prefix: str | None) -> list[str]:
    """Why ``suffix`` would not make a valid descriptor beside the account's ``prefix``."""
    problems = _character_problems(suffix)
    if suffix != suffix.strip():
        problems.append("may not start or end with a space")
    limit = longest_suffix(prefix)
    if len(suffix) > limit:
        beside = f"beside the prefix {prefix!r}" if prefix else "beside a prefix of up to 10 characters"
        problems.append(f"must be at most {limit} characters {beside} (22 in all, with '* ')")
    return problems
