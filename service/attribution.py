"""Attribution: where a gift came from, cleaned on the way in (the sums per source are
service/source_totals.py).

The source page is kept as scheme, host and path only: query strings and fragments can carry a
reader's session tokens or e-mail address, and campaign tags travel separately as ``utm_*``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
UTM_MAX = 200
URL_MAX = 2048
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_page_url(raw: str | None) -> str | None:
    """http(s) URL reduced to scheme://host[:port]/path, or None when it is not one."""
    if not raw:
        return None
    try:
        parts = urlsplit(raw.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, host, parts.path or "/", "", ""))[:URL_MAX]


def clean_host(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        host = urlsplit(raw.strip()).hostname
    except ValueError:
        return None
    return host[:255] if host else None


def clean_tag(raw: str | None) -> str | None:
    """A utm_* value without control characters, trimmed to what the column holds."""
    if raw is None:
        return None
    value = CONTROL.sub("", raw).strip()[:UTM_MAX]
    return value or None


def source_columns(source: dict[str, Any]) -> dict[str, Any]:
    """Donation columns from a validated ``source`` ({url, referrer, utm_*})."""
    columns: dict[str, Any] = {key: clean_tag(source.get(key)) for key in UTM_KEYS}
    columns["source_url"] = clean_page_url(source.get("url"))
    columns["referrer_host"] = clean_host(source.get("referrer")) or clean_host(source.get("url"))
    return columns
