"""The hosted checkout page at each session's ``url``: a plain HTML form that works
without JavaScript, for people and for headless browsers."""

from __future__ import annotations

from html import escape
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox import money, payments, subscriptions
from sandbox.core import Sandbox
from sandbox.errors import StripeError
from sandbox.html import page

Obj = dict[str, Any]
SUCCESS_CARD = "4242424242424242"
DECLINES = {
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Your card has insufficient funds.",
    "4000000000000069": "Your card has expired.",
}


def handle(sb: Sandbox, request: Request) -> Response:
    session_id = request.path[len("/c/pay/") :].strip("/")
    with sb.store.lock:
        session = sb.store.get(session_id)
        if session is None or session.get("object") != "checkout.session":
            return _html(page("Link not valid", _notice(
                "Something went wrong",
                "This checkout link is not valid. Go back to the site you came from and try again.",
            )), 404)  # fmt: skip
        payments.expire_due(sb, session)
        if request.method == "POST":
            return _submit(sb, session, request)
        return _render(sb, session)


def _submit(sb: Sandbox, session: Obj, request: Request) -> Response:
    form = request.form
    if form.get("action") == "cancel":
        if session.get("cancel_url") and session["status"] == "open":
            return _redirect(session["cancel_url"])
        return _render(sb, session)
    if session["status"] != "open":
        return _render(sb, session)
    email = (form.get("email") or "").strip() or session.get("customer_email")
    method = form.get("method", "card")
    error = None
    try:
        if method == "card" and _offers_card(session):
            error = _pay_by_card(sb, session, form.get("card_number", ""), email)
        elif method in ("bank_debit_succeeds", "bank_debit_fails") and _offers_debit(session):
            outcome = "succeeded" if method == "bank_debit_succeeds" else "failed"
            if session["mode"] == "subscription":
                subscriptions.subscribe_by_bank_debit(sb, session, email, outcome)
            else:
                payments.pay_with_bank_debit(sb, session, email, outcome)
        else:
            error = "Choose a payment method."
    except StripeError as exc:
        error = exc.message
    sb.save()
    if error:
        card = form.get("card_number") if method == "card" else None
        return _render(sb, session, error=error, email=email, card=card, status=402)
    return _redirect(_after_url(sb, session))


def _offers_card(session: Obj) -> bool:
    return "card" in (session.get("payment_method_types") or ["card"])


def _offers_debit(session: Obj) -> bool:
    """A bank debit the session offers; in subscription mode Bacs or SEPA (they collect a mandate)."""
    kind = payments.bank_debit_type(session)
    return kind is not None and (session["mode"] == "payment" or kind in ("bacs_debit", "sepa_debit"))


def _pay_by_card(sb: Sandbox, session: Obj, number: str, email: str | None) -> str | None:
    digits = "".join(c for c in number if c.isdigit())
    if digits in DECLINES:
        if session["mode"] == "payment":
            payments.decline_card(sb, session)
        return DECLINES[digits]
    if digits != SUCCESS_CARD:
        return "Your card number is invalid. In the sandbox use 4242 4242 4242 4242."
    if session["mode"] == "subscription":
        subscriptions.subscribe(sb, session, email)
    else:
        payments.pay_with_card(sb, session, email)
    return None


def _after_url(sb: Sandbox, session: Obj) -> str:
    url = session.get("success_url")
    if not url:
        url = sb.store.table("checkout").get(session["id"], {}).get("return_url") or "/"
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"])


def _items(sb: Sandbox, session: Obj) -> list[Obj]:
    return sb.store.table("checkout").get(session["id"], {}).get("line_items", [])


def _interval(session: Obj, items: list[Obj]) -> str:
    if session["mode"] != "subscription":
        return ""
    recurring = next((i["price"]["recurring"] for i in items if i["price"]["recurring"]), None)
    if not recurring:
        return ""
    count, unit = recurring.get("interval_count", 1), recurring["interval"]
    return f" per {unit}" if count == 1 else f" every {count} {unit}s"


def _render(
    sb: Sandbox,
    session: Obj,
    error: str | None = None,
    email: str | None = None,
    card: str | None = None,
    status: int = 200,
) -> Response:
    items = _items(sb, session)
    per = _interval(session, items)
    amount = money.display(session["amount_total"], session["currency"])
    name = items[0]["description"] if items else "Payment"
    if session["status"] == "complete":
        body = _notice("Thank you", f"This payment of {escape(amount)}{per} is complete.")
        return _html(page("Payment complete", body), status)
    if session["status"] == "expired":
        body = _notice("This checkout session has expired",
                       "Go back to the site you came from to start again.")  # fmt: skip
        return _html(page("Session expired", body), 410)
    rows = "".join(
        f"<tr><td>{escape(i['description'])}"
        + (f" × {i['quantity']}" if i["quantity"] > 1 else "")
        + f"</td><td class=r>{escape(money.display(i['amount_total'], i['currency']))}</td></tr>"
        for i in items
    )
    error_html = f"<div class=error role=alert id=error>{escape(error)}</div>" if error else ""
    email_field = ""
    if not session.get("customer_email"):
        email_field = (
            "<label for=email>Email <span class=muted>(optional, for your receipt)</span></label>"
            f'<input type=email id=email name=email autocomplete=email value="{escape(email or "")}">'
        )
    bank = ""
    card_offered = _offers_card(session)
    if _offers_debit(session):
        bank = (
            _choice("bank_debit_succeeds", "Bank debit — settles later",
                    "The payment completes unpaid and succeeds later.", checked=not card_offered) +
            _choice("bank_debit_fails", "Bank debit — fails later",
                    "The payment completes unpaid and fails later.")
        )  # fmt: skip
    card_html = ""
    if card_offered:
        card_html = f"""{_choice("card", "Card", "", checked=True)}
  <label for=card_number>Card number</label>
  <input type=text id=card_number name=card_number inputmode=numeric autocomplete=cc-number
   value="{escape(card or "4242 4242 4242 4242")}" aria-describedby=cards>
  <p class=muted id=cards>Test cards: 4242 4242 4242 4242 succeeds;
   4000 0000 0000 0002 is declined.</p>"""
    body = f"""
<section class=card aria-labelledby=what>
 <h1 id=what>{escape(name)}</h1>
 <p class=amount id=amount>{escape(amount)}<span class=muted>{escape(per)}</span></p>
 <table aria-label="Order summary">{rows}</table>
</section>
{error_html}
<form method=post class=card action="/c/pay/{escape(session["id"])}">
 {email_field}
 <fieldset><legend>Payment method</legend>
  {card_html}
  {bank}
 </fieldset>
 <button type=submit name=action value=pay id=pay>{"Subscribe" if per else "Pay"} {escape(amount)}{escape(per)}</button>
 <button type=submit name=action value=cancel id=cancel class=secondary formnovalidate>Cancel and return</button>
</form>"""
    return _html(page(f"Pay {amount}", body), status)


def _choice(value: str, label: str, hint: str, checked: bool = False) -> str:
    hint_html = f"<br><span class=muted>{escape(hint)}</span>" if hint else ""
    return (
        f"<label class=choice><input type=radio name=method value={value} id=method_{value}"
        f"{' checked' if checked else ''}><span>{escape(label)}{hint_html}</span></label>"
    )


def _notice(title: str, text: str) -> str:
    return f"<section class=card><h1>{escape(title)}</h1><p>{text}</p></section>"


def index(sb: Sandbox) -> Response:
    body = _notice(
        "Stripe sandbox",
        "This local server speaks Stripe's API under <code>/v1</code>; scenario controls live "
        "under <code>/_sandbox</code>. See sandbox/README.md.",
    )
    return _html(page("Stripe sandbox", body))


def _html(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/html")


def _redirect(url: str) -> Response:
    return Response("", status=303, headers={"Location": url})
