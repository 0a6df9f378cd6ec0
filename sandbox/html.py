"""Shared page chrome for the sandbox's HTML: inline CSS only, no external resources."""

from __future__ import annotations

from html import escape

CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 color:#1a1f36;background:#f6f8fa}
main{max-width:30rem;margin:0 auto;padding:1.5rem 1rem 3rem}
.card{background:#fff;border:1px solid #d5dbe1;border-radius:8px;padding:1.25rem;margin:1rem 0}
h1{font-size:1.35rem;margin:.2rem 0 1rem}
.amount{font-size:2rem;font-weight:700;margin:.25rem 0}
.muted{color:#545969;font-size:.9rem}
.badge{display:inline-block;background:#ffde92;color:#5d3b00;border-radius:4px;
 padding:.1rem .45rem;font-size:.75rem;font-weight:600;letter-spacing:.03em}
label{display:block;font-weight:600;margin:.9rem 0 .3rem}
input[type=email],input[type=text]{width:100%;padding:.6rem .7rem;font-size:1rem;
 border:1px solid #8792a2;border-radius:6px}
input:focus,button:focus,a:focus{outline:3px solid #0570de;outline-offset:2px}
fieldset{border:1px solid #d5dbe1;border-radius:6px;margin:1rem 0;padding:.5rem .9rem}
legend{font-weight:600;padding:0 .3rem}
.choice{display:flex;gap:.6rem;align-items:flex-start;margin:.5rem 0;font-weight:400}
.choice input{margin-top:.35rem}
button{display:block;width:100%;margin-top:1.2rem;padding:.8rem;font-size:1.05rem;font-weight:600;
 border:0;border-radius:6px;background:#0570de;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1a1f36;border:1px solid #8792a2;margin-top:.6rem}
.error{background:#fde8e8;border:1px solid #df1b41;color:#8a0c24;border-radius:6px;
 padding:.6rem .8rem;margin:1rem 0}
table{width:100%;border-collapse:collapse}td{padding:.3rem 0}td.r{text-align:right}
code{font-size:.85rem}
"""


def page(title: str, body: str, status_note: str = "") -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f'<body><main><p><span class=badge aria-label="Test mode">TEST MODE</span> '
        f"<span class=muted>Stripe sandbox{escape(status_note)}</span></p>{body}</main></body></html>"
    )
