"""sandbox.params: Stripe form decoding and validation against stripe-python's
own TypedDict param classes."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe
import stripe.params
import typing_extensions
from stripe._encode import _api_encode
from stripe._http_client import HTTPClient

from sandbox import params as sandbox_params
from sandbox.params import ParamError, decode_form, params_class, validate

SESSION_CREATE = "checkout.SessionCreateParams"


def wire(params: dict[str, Any]) -> str:
    """Encode exactly as stripe._api_requestor does for a v1 POST body."""
    encoded = urlencode(list(_api_encode(params)))
    return encoded.replace("%5B", "[").replace("%5D", "]")


def payment_session() -> dict[str, Any]:
    return {
        "mode": "payment",
        "submit_type": "donate",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "gbp",
                    "unit_amount": 2500,
                    "product_data": {
                        "name": "Gaza emergency appeal",
                        "description": "Food parcels & clean water",
                        "metadata": {"appeal_id": "gaza-2026"},
                    },
                },
            }
        ],
        "metadata": {"appeal_id": "gaza-2026", "story_id": "st_123", "utm": "a=b&c=d [x]"},
        "payment_intent_data": {
            "metadata": {"appeal_id": "gaza-2026"},
            "statement_descriptor_suffix": "GAZA APPEAL",
            "on_behalf_of": "acct_1Charity",
            "transfer_data": {"destination": "acct_1Charity"},
        },
        "client_reference_id": "click_7f3a",
        "success_url": "https://donate.example.org/thanks?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://news.example.org/story/123",
        "customer_email": "reader+1@example.org",
        "expires_at": 1_900_000_000,
        "allow_promotion_codes": False,
        "expand": ["payment_intent", "line_items"],
    }


def subscription_session() -> dict[str, Any]:
    return {
        "mode": "subscription",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount_decimal": "1250.5",
                    "recurring": {"interval": "month", "interval_count": 1},
                    "product_data": {"name": "Monthly gift: Sudan appeal"},
                },
            }
        ],
        "subscription_data": {"metadata": {"appeal_id": "sudan-2026"}},
        "success_url": "https://donate.example.org/thanks",
        "cancel_url": "https://news.example.org/story/9",
    }


def session_cls() -> type:
    return params_class(SESSION_CREATE)


def rejects(body: str, cls: type | None = None) -> ParamError:
    with pytest.raises(ParamError) as info:
        validate(cls or session_cls(), decode_form(body))
    return info.value


# -- round trips through stripe-python's own encoder ---------------------------------


@pytest.mark.parametrize("make", [payment_session, subscription_session])
def test_round_trip_through_stripe_encoder(make):
    original = make()
    body = wire(original)
    assert validate(session_cls(), decode_form(body)) == original
    # Bytes bodies decode the same.
    assert decode_form(body.encode()) == decode_form(body)


def test_decode_keeps_strings_and_builds_nesting():
    decoded = decode_form(wire(payment_session()))
    item = decoded["line_items"][0]
    assert item["quantity"] == "1"
    assert item["price_data"]["unit_amount"] == "2500"
    assert decoded["allow_promotion_codes"] == "false"
    assert decoded["metadata"]["utm"] == "a=b&c=d [x]"
    assert decoded["expand"] == ["payment_intent", "line_items"]


class CapturingClient(HTTPClient):
    """An HTTPClient that records what the real StripeClient would send."""

    name = "capturing"

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[str] = []

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        self.bodies.append(post_data)
        return '{"id": "cs_test_1", "object": "checkout.session"}', 200, {}

    def close(self) -> None:
        pass


def test_decodes_exactly_what_the_real_client_sends():
    http = CapturingClient()
    client = stripe.StripeClient("sk_test_x", http_client=http, max_network_retries=0)
    original = payment_session()
    client.v1.checkout.sessions.create(original, options={"idempotency_key": "k1"})
    (body,) = http.bodies
    assert validate(session_cls(), decode_form(body)) == original


def test_converted_types():
    result = validate(session_cls(), decode_form(wire(subscription_session())))
    price_data = result["line_items"][0]["price_data"]
    assert price_data["recurring"] == {"interval": "month", "interval_count": 1}
    # Decimals stay strings, as Stripe echoes *_decimal fields.
    assert price_data["unit_amount_decimal"] == "1250.5"
    booleans = validate(session_cls(), decode_form("allow_promotion_codes=true"))
    assert booleans == {"allow_promotion_codes": True}


# -- decode_form details -------------------------------------------------------------


def test_decode_empty_body():
    assert decode_form(b"") == {}
    assert decode_form("") == {}


def test_decode_bracket_append_lists():
    assert decode_form("expand[]=a&expand[]=b") == {"expand": ["a", "b"]}
    assert decode_form("a[][x]=1&a[][y]=2&a[][x]=3") == {"a": [{"x": "1", "y": "2"}, {"x": "3"}]}


def test_decode_non_contiguous_indices_stay_a_dict_and_validate_orders_them():
    decoded = decode_form("expand[1]=b&expand[0]=a&line_items[3][price]=p")
    assert decoded["expand"] == ["a", "b"]
    assert decoded["line_items"] == {"3": {"price": "p"}}
    result = validate(session_cls(), decoded)
    assert result["line_items"] == [{"price": "p"}]


def test_metadata_with_numeric_keys_survives():
    result = validate(session_cls(), decode_form("metadata[0]=a&metadata[1]=b"))
    assert result["metadata"] == {"0": "a", "1": "b"}


@pytest.mark.parametrize(
    "body",
    [
        "a[b=1",
        "a]=1",
        "[a]=1",
        "a[b]c=1",
        "a=1&a[b]=2",
        "a[b]=1&a=2",
        "a[]=1&a[0]=2",
        "=1",
    ],
)
def test_decode_rejects_malformed_nesting(body):
    with pytest.raises(ParamError) as info:
        decode_form(body)
    assert info.value.code == "parameter_invalid"
    assert info.value.message.startswith("Invalid parameter name")


def test_decode_rejects_bad_utf8():
    with pytest.raises(ParamError):
        decode_form(b"a=\xff")
    with pytest.raises(ParamError):
        decode_form("a=%FF")


# -- params_class --------------------------------------------------------------------


def test_params_class_lookup():
    assert params_class(SESSION_CREATE) is stripe.params.checkout.SessionCreateParams
    assert params_class("PaymentIntentRetrieveParams") is stripe.params.PaymentIntentRetrieveParams
    assert params_class("stripe.params.checkout.SessionCreateParams") is session_cls()
    for bad in ("NoSuchParams", "checkout.Nope", "nosuchmodule.SessionCreateParams"):
        with pytest.raises(KeyError):
            params_class(bad)


# -- errors, with their Stripe codes and bracket paths ------------------------------


def test_unknown_top_level_param():
    err = rejects("foo=1")
    assert (err.code, err.param, err.message) == (
        "parameter_unknown",
        "foo",
        "Received unknown parameter: foo",
    )
    assert err.to_dict()["type"] == "invalid_request_error"


def test_unknown_nested_param():
    body = wire(payment_session()) + "&line_items[0][price_data][bogus]=1"
    err = rejects(body)
    assert err.code == "parameter_unknown"
    assert err.param == "line_items[0][price_data][bogus]"
    assert err.message == "Received unknown parameter: line_items[0][price_data][bogus]"


def test_several_unknown_params_reported_together():
    err = rejects("foo=1&bar=2")
    assert err.param == "foo"
    assert err.message == "Received unknown parameters: foo, bar"


def test_request_options_are_not_params():
    assert "idempotency_key" in sandbox_params.REQUEST_OPTION_KEYS
    for key in ("api_key", "idempotency_key", "stripe_account", "stripe_version"):
        assert rejects(f"{key}=x").code == "parameter_unknown"


def test_missing_nested_required_param():
    err = rejects("mode=payment&line_items[0][price_data][unit_amount]=100")
    assert err.code == "parameter_missing"
    assert err.param == "line_items[0][price_data][currency]"
    assert err.message == "Missing required param: line_items[0][price_data][currency]."


def test_missing_required_in_subscription_recurring():
    session = subscription_session()
    del session["line_items"][0]["price_data"]["recurring"]["interval"]
    err = rejects(wire(session))
    assert (err.code, err.param) == (
        "parameter_missing",
        "line_items[0][price_data][recurring][interval]",
    )


def test_unknown_reported_before_missing_and_all_errors_kept():
    err = rejects("line_items[0][price_data][unit_amount]=abc&zzz=1")
    assert err.code == "parameter_unknown"
    codes = [e.code for e in err.errors]
    assert codes == ["parameter_unknown", "parameter_missing", "parameter_invalid_integer"]


def test_invalid_integer():
    err = rejects("line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=abc")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid_integer",
        "line_items[0][price_data][unit_amount]",
        "Invalid integer: abc",
    )
    assert rejects("expires_at=12.5").code == "parameter_invalid_integer"


def test_invalid_boolean():
    err = rejects("allow_promotion_codes=yes")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid",
        "allow_promotion_codes",
        "Invalid boolean: yes",
    )


def test_invalid_decimal():
    err = rejects(
        "line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount_decimal]=1e5"
    )
    assert (err.code, err.param) == (
        "parameter_invalid",
        "line_items[0][price_data][unit_amount_decimal]",
    )


def test_literal_rejection():
    err = rejects("mode=bogus")
    assert (err.code, err.param, err.message) == (
        "parameter_invalid",
        "mode",
        "Invalid mode: must be one of payment, setup, or subscription",
    )
    nested = rejects(
        "line_items[0][price_data][currency]=usd&line_items[0][price_data][recurring][interval]=fortnight"
    )
    assert nested.param == "line_items[0][price_data][recurring][interval]"
    assert "must be one of day, month, week, or year" in nested.message


def test_literal_list_items():
    ok = validate(session_cls(), decode_form("allowed_payment_method_types[0]=card"))
    assert ok == {"allowed_payment_method_types": ["card"]}
    err = rejects("allowed_payment_method_types[0]=card&allowed_payment_method_types[1]=bitcoin_cash")
    assert err.param == "allowed_payment_method_types[1]"


def test_empty_string_only_where_literal_empty_allows_it():
    err = rejects("client_reference_id=")
    assert (err.code, err.param) == ("parameter_invalid_empty", "client_reference_id")
    assert "cannot be unset" in err.message
    # branding_settings[background_color] is Literal[""] | str: "" unsets it.
    ok = validate(session_cls(), decode_form("branding_settings[background_color]="))
    assert ok == {"branding_settings": {"background_color": ""}}
    # Metadata values may be "" (that unsets the key).
    assert validate(session_cls(), decode_form("metadata[k]=")) == {"metadata": {"k": ""}}


def test_shape_errors():
    assert (rejects("expand=x").code, rejects("expand=x").message) == (
        "parameter_invalid",
        "Invalid array",
    )
    err = rejects("metadata=x")
    assert (err.param, err.message) == ("metadata", "Invalid object")
    err = rejects("line_items[0]=x")
    assert (err.param, err.message) == ("line_items[0]", "Invalid object")
    err = rejects("client_reference_id[a]=x")
    assert (err.code, err.param) == ("parameter_invalid", "client_reference_id")


def test_union_of_literal_and_object():
    # custom_text[submit] is Literal[""] | {message: str}
    ok = validate(session_cls(), decode_form("custom_text[submit][message]=Thank you"))
    assert ok == {"custom_text": {"submit": {"message": "Thank you"}}}
    assert validate(session_cls(), decode_form("custom_text[submit]=")) == {"custom_text": {"submit": ""}}
    err = rejects("custom_text[submit][bogus]=x")
    assert err.param == "custom_text[submit][bogus]"


def test_union_of_literal_and_int():
    cls = params_class("SubscriptionCreateParams")
    assert validate(cls, decode_form("customer=cus_1&trial_end=now"))["trial_end"] == "now"
    assert validate(cls, decode_form("customer=cus_1&trial_end=1900000000"))["trial_end"] == (1_900_000_000)
    assert rejects("customer=cus_1&trial_end=soon", cls).param == "trial_end"


# -- metadata limits -----------------------------------------------------------------


def test_metadata_key_too_long():
    assert validate(session_cls(), {"metadata": {"k" * 40: "v"}})
    err = rejects(wire({"payment_intent_data": {"metadata": {"k" * 41: "v"}}}))
    assert (err.code, err.param) == ("parameter_invalid", "payment_intent_data[metadata]")
    assert err.message == f"Invalid key: {'k' * 41} must be a string under 40 characters"


def test_metadata_value_too_long():
    assert validate(session_cls(), {"metadata": {"k": "v" * 500}})
    err = rejects(wire({"metadata": {"k": "v" * 501}}))
    assert (err.code, err.param) == ("parameter_invalid", "metadata")
    assert err.message.startswith("Invalid val: ")
    assert err.message.endswith("must be a string under 500 characters")


def test_metadata_too_many_keys():
    assert validate(session_cls(), {"metadata": {f"k{i}": "v" for i in range(50)}})
    err = rejects(wire({"metadata": {f"k{i}": "v" for i in range(51)}}))
    assert (err.code, err.param) == ("parameter_invalid", "metadata")
    assert err.message == "Metadata can have up to 50 keys, but you've set 51."


# -- JSON bodies (coerce_strings=False) -----------------------------------------------


def test_json_mode_accepts_native_types():
    original = payment_session()
    assert validate(session_cls(), original, coerce_strings=False) == original


def test_json_mode_type_checks():
    cls = session_cls()
    # Stripe's int<->str slack.
    assert validate(cls, {"expires_at": "1900000000"}, coerce_strings=False) == {"expires_at": 1_900_000_000}
    assert validate(cls, {"client_reference_id": 42}, coerce_strings=False) == {"client_reference_id": "42"}
    with pytest.raises(ParamError) as info:
        validate(cls, {"expires_at": True}, coerce_strings=False)
    assert info.value.code == "parameter_invalid_integer"
    with pytest.raises(ParamError) as info:
        validate(cls, {"allow_promotion_codes": "yes"}, coerce_strings=False)
    assert info.value.param == "allow_promotion_codes"
    with pytest.raises(ParamError) as info:
        validate(cls, {"line_items": {"price": "p"}}, coerce_strings=False)
    assert info.value.message == "Invalid array"


# -- the schema comes from the installed package -------------------------------------


def test_validate_does_not_mutate_input():
    decoded = decode_form(wire(payment_session()))
    snapshot = repr(decoded)
    validate(session_cls(), decoded)
    assert repr(decoded) == snapshot


def test_schema_is_introspected_and_cached():
    fields, required = sandbox_params._schema(stripe.params.checkout.SessionCreateParamsLineItemPriceData)
    assert "currency" in required and "unit_amount" not in required
    assert sandbox_params._schema(session_cls()) is sandbox_params._schema(session_cls())
    assert not sandbox_params.REQUEST_OPTION_KEYS & set(sandbox_params._schema(session_cls())[0])


def test_every_param_class_in_stripe_python_compiles():
    """Guards the introspection against annotation shapes we don't handle."""
    count = 0
    for info in pkgutil.walk_packages(stripe.params.__path__, "stripe.params."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if typing_extensions.is_typeddict(obj) and obj.__module__ == info.name:
                sandbox_params._schema(obj)
                count += 1
    assert count > 1000


def test_a_key_is_split_the_same_the_second_time_and_a_malformed_one_is_refused_every_time():
    body = "line_items[0][price_data][currency]=gbp&metadata[a]=1&items[][x]=1&items[][x]=2"
    first, second = decode_form(body), decode_form(body)  # the second from remembered keys
    assert (
        first
        == second
        == {
            "line_items": [{"price_data": {"currency": "gbp"}}],
            "metadata": {"a": "1"},
            "items": [{"x": "1"}, {"x": "2"}],
        }
    )
    for _ in range(2):
        with pytest.raises(ParamError):
            decode_form("a]b=1")
