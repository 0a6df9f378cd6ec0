"""The server-rendered donate form: its address, a fresh form's hidden fields, the thanks page's address."""

from __future__ import annotations

import re
from typing import Any

FORM = "/donate/red-cross-ukraine"


def form_token(html: str) -> str:
    match = re.search(r'name="form_token" value="([^"]+)"', html)
    assert match, "form has no token"
    return match.group(1)


def fresh_form(client: Any, query: str = "") -> dict[str, str]:
    html = client.get(FORM + query).get_data(as_text=True)
    return {"form_token": form_token(html), "currency": "gbp", "frequency": "one_off"}


def thanks_url(session_id: str) -> str:
    return f"/donate/red-cross-ukraine/thanks?session_id={session_id}"
