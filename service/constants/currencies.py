"""Stripe's currency tables: zero-decimal currencies, minimum and maximum charges, the currencies
the service takes and those with a bank-debit scheme (functions over them: service/currencies.py).
"""

# Stripe's zero-decimal currencies: amounts are given in whole units (JPY 500 means ¥500).
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)

# Stripe's minimum charge amounts, in minor units, for the currencies we expect appeals to take.
# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts
STRIPE_MINIMUM_CHARGE: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}

# Stripe refuses amounts with more than eight digits.
STRIPE_MAXIMUM_AMOUNT = 99_999_999

SUPPORTED_CURRENCIES = frozenset(STRIPE_MINIMUM_CHARGE)


# Currencies with a bank-debit scheme Checkout can offer (service/payment_methods.py: Bacs, SEPA).
BANK_DEBIT_CURRENCIES = frozenset({"gbp", "eur"})
