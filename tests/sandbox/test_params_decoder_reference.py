"""sandbox.params.decode_form gives what the plain decoder it replaced gave, for every body.

The decoder in sandbox/params.py remembers names, skips unquoting values without a ``%`` and turns
only candidate dicts into lists (for the sandbox's CPU, bench/README.md). The reference below is
the straightforward one it replaced (``parse_qsl``, then a recursive walk over every dict): the two
must agree on the result, its order and types, and on which error is raised."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sandbox.params import _INDEX, ParamError, _split_key, decode_form


def _reference_has_path(node: Any, segments: tuple[str, ...]) -> bool:
    for seg in segments:
        if not isinstance(node, dict) or seg not in node:
            return False
        node = node[seg]
    return True


def _reference_assign(node: dict[str, Any], segments: tuple[str, ...], value: str, key: str) -> None:
    malformed = ParamError("parameter_invalid", key, f"Invalid parameter name: {key}")
    name = segments[0]
    if name == "":
        raise malformed
    if len(segments) == 1:
        if isinstance(node.get(name), dict | list):
            raise malformed
        node[name] = value
        return
    if segments[1] == "":
        items = node.setdefault(name, [])
        if not isinstance(items, list):
            raise malformed
        rest = segments[2:]
        if not rest:
            items.append(value)
            return
        if items and isinstance(items[-1], dict) and not _reference_has_path(items[-1], rest):
            _reference_assign(items[-1], rest, value, key)
        else:
            child: dict[str, Any] = {}
            items.append(child)
            _reference_assign(child, rest, value, key)
        return
    child = node.setdefault(name, {})
    if not isinstance(child, dict):
        raise malformed
    _reference_assign(child, segments[1:], value, key)


def _reference_listify(value: Any) -> Any:
    if isinstance(value, list):
        return [_reference_listify(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _reference_listify(v) for k, v in value.items()}
    if out and all(k.isascii() and k.isdigit() and _INDEX.fullmatch(k) for k in out):
        indices = sorted(int(k) for k in out)
        if indices == list(range(len(indices))):
            return [out[str(i)] for i in indices]
    return out


def reference_decode(body: bytes | str) -> dict[str, Any]:
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParamError("parameter_invalid", "", "Invalid request body: not valid UTF-8") from exc
    if not body:
        return {}
    try:
        pairs = parse_qsl(body, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParamError("parameter_invalid", "", "Invalid request body: not valid UTF-8") from exc
    root: dict[str, Any] = {}
    for key, value in pairs:
        _reference_assign(root, _split_key(key), value, key)
    return {k: _reference_listify(v) for k, v in root.items()}


def outcome(decode: Any, body: bytes | str) -> tuple[str, Any]:
    try:
        # json.dumps without sort_keys: the order of keys and list-or-dict must agree too.
        return "ok", json.dumps(decode(body))
    except ParamError as exc:
        return "error", (exc.code, exc.param, exc.message)


def assert_same(body: bytes | str) -> None:
    assert outcome(decode_form, body) == outcome(reference_decode, body), body


# Segments and values chosen to reach every rule: indices (contiguous or not, leading zeros, non-ASCII
# digits), [] appends, empty and bracket-breaking segments, +, escapes valid and not, non-ASCII.
_SEGMENTS = ["a", "b", "x", "0", "1", "2", "3", "01", "00", "10", "٣", "", "a b", "a+b", "]", "[", "é"]
_VALUES = ["", "v", "a+b", "%20", "%2B", "%C3%A9", "é", "%FF", "%C3", "%", "%4", "%zz", "=", "a=b", "%5B"]


@st.composite
def _field(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(["a", "b", "line_items", "", "0", "a%5B", "a[", "x+y", "%C3%A9", "%FF"]))
    segments = draw(st.lists(st.sampled_from(_SEGMENTS), max_size=4))
    encode = draw(st.booleans())
    key = head + "".join(f"[{s}]" for s in segments)
    if encode:
        key = quote(key, safe="+%")
    if draw(st.integers(0, 9)) == 0:
        return key  # no "=" at all
    return key + "=" + draw(st.sampled_from(_VALUES))


@settings(max_examples=3000, deadline=None)
@given(st.lists(_field(), max_size=8), st.sampled_from(["&", "&&"]), st.booleans())
@example(["a[0]=x", "a[1]=y"], "&", False)
@example(["a[1]=y", "a[0]=x"], "&", True)
@example(["a[][0]=x", "a[][0]=y"], "&", False)
@example(["a[0][0]=x", "a[0][1]=y", "a[1]=z"], "&", False)
def test_decode_form_agrees_with_the_plain_decoder(fields: list[str], separator: str, as_bytes: bool) -> None:
    body = separator.join(fields)
    assert_same(body.encode() if as_bytes else body)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "&&",
        "a",
        "a=",
        "=",
        "0=a&1=b",  # the top level never becomes a list
        "a[0]=x&a[2]=y",
        "a[01]=x",
        "a[0]=x&a[01]=y",
        "a[1]=x&a[0]=y&a[0]=z",
        "a[0][b]=1&a[1][b]=2&a[0][c]=3",
        "a[0][0][0]=x&a[0][0][1]=y&a[0][1]=z",
        "a[][0]=x&a[][1]=y",
        "a[][x]=1&a[][y]=2&a[][x]=3",
        "a[b]=1&a[0]=2",
        "a[0]=1&a[b]=2",
        "a[]=1&a[0]=2",
        "a[0]=1&a[]=2",
        "a[b=1&a=%FF",  # an encoding error anywhere is reported before a malformed name
        "a]=1&b=%C3",
        "%FF[0]=1",
        "a[%FF]=1&b]=2",
        "a+b[c+d]=e+f%20g",
        "a%5B0%5D=x&a%5B1%5D=y",
        "a=%C3%A9&b=%E2%82%AC+%2B&c=é%20ü",
        "a=%C3é",
        "a=%%41&b=%4&c=%",
        b"a=\xff",
        b"a=\xc3\xa9&b[0]=1",
    ],
)
def test_edge_cases_agree_with_the_plain_decoder(body: bytes | str) -> None:
    assert_same(body)
