"""How a donor's typed amount becomes integer minor units: the one rule for every typed amount.

The donate page's "Other amount" goes through ``parse_amount`` with the page's language, and the
widget (service/embed) follows the same rule in JavaScript; the rule's table of cases, with the
reason for each answer, is ``tests/amount_input_cases.json`` (both test suites read it).

The rule, for a language whose decimal mark is D and whose thousands mark is G (English: D ".",
G ","; Ukrainian: D ",", G a space):

- Spaces of every kind (ordinary, no-break, narrow no-break, thin) at either end are ignored;
  inside the number they group thousands. A currency symbol or code (£, $, €, ¥, ₴, GBP, грн)
  before or after the number is ignored.
- Only ASCII digits, "," and "." and spaces may remain; anything else (letters, minus, exponent)
  is "not a number".
- A mark followed by exactly three digits could be a thousands mark or a decimal mark with three
  places. It is read as thousands when it is the language's thousands mark ("1,000" in English);
  otherwise the donor is asked which they meant ("1.000" in English, "1,000" in Ukrainian).
- A mark followed by any other count of digits can only be a decimal mark. When it is the
  language's decimal mark it is one. A point is also read as a decimal mark in Ukrainian (the
  point is no Ukrainian thousands mark, so it has no other reading). A comma in English is the
  thousands mark in the wrong place ("10,50"): the donor is asked "Did you mean £10.50?", never
  given £1,050.
- Both marks together ("1,000.50"): the last one is the decimal mark; written the language's way
  it is read, written the other way the donor is asked to confirm.
- More decimal places than the currency has are accepted only when they are zeros ("10.00",
  "500.00" yen); otherwise refused, never rounded.

Babel supplies each language's marks, parses the canonical form of what the donor meant
(``parse_decimal``, strict) and formats the amounts that a question quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from babel.numbers import (
    format_decimal,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
)

from .currencies import AmountFormatError, exponent, format_amount
from .i18n import gettext

# The short language codes the donor pages speak, to the Babel locale that formats numbers.
BABEL_LOCALES = {"en": "en_GB", "uk": "uk_UA"}
CURRENCY_SIGNS = ("£", "$", "€", "¥", "₴")
SPACES = re.compile(r"[\s\u00a0\u2007\u2009\u202f]+")
LONGEST_WHOLE_PART = 12  # digits; the appeal's maximum refuses far less, this stops absurd input


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for "mark, translate later"
    return message


# The donor's messages (English source; service/translations holds the Ukrainian). Variables
# are formatted in the donor's language when the error is raised.
EMPTY = N_("Enter an amount.")
NOT_A_NUMBER = N_("Enter the amount as a number, like %(whole)s or %(decimal)s.")
NOT_A_WHOLE_NUMBER = N_("Enter the amount as a whole number, like %(whole)s.")
DID_YOU_MEAN = N_("Did you mean %(amount)s? Please type it as %(typed)s.")
WHICH_ONE = N_("Did you mean %(first)s or %(second)s? Please type it as %(first_typed)s or %(second_typed)s.")
TOO_MANY_PLACES = N_("Use at most %(places)s decimal places.")
WHOLE_UNITS = N_("Amounts in %(currency)s are whole numbers.")
TOO_LARGE = N_("That amount is too large.")


@dataclass
class AmountInputError(AmountFormatError):
    """A typed amount the rule will not read as money, with the donor's question or instruction.

    ``code`` is stable for programs (the widget, tests): ``empty``, ``not_a_number``,
    ``ambiguous``, ``too_many_places``, ``too_large``. The donor's message is ``template``
    translated, then filled with ``variables``; ``readings`` are the amounts (minor units) a
    question offers.
    """

    code: str
    template: str
    variables: dict[str, str] = field(default_factory=dict)
    readings: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.template % self.variables if self.variables else self.template


def babel_locale_for(locale: str) -> str:
    """'uk' -> 'uk_UA'; a full Babel locale ('en_GB') is returned as it is."""
    return BABEL_LOCALES.get(locale, locale)


def typed_amount(amount: int, currency: str, locale: str = "en") -> str:
    """``amount`` (minor units) as a donor would type it in ``locale``, so that ``parse_amount``
    reads it back without a question: '10.50' in 'en', '10,50' in 'uk', '10' for whole amounts."""
    return _Reader(babel_locale_for(locale), currency.lower()).typed(amount)


def parse_amount(text: str, currency: str, locale: str = "en") -> int:
    """A donor's typed amount in ``currency`` to exact minor units, read the way ``locale`` writes
    numbers: '10,50' is 1050 in 'uk'; in 'en' it raises an ``ambiguous`` AmountInputError
    ("Did you mean £10.50?").

    Raises AmountInputError (a ValueError) with a message for the donor; never rounds.
    """
    loc = babel_locale_for(locale)
    reader = _Reader(loc, currency.lower())
    number = _strip_currency(SPACES.sub(" ", text).strip(), currency, loc)
    if not number:
        raise AmountInputError("empty", EMPTY)
    if not re.fullmatch(r"[0-9][0-9 ,.]*|[,.][0-9]+", number) or re.search(r"[ ,.][,.]|[,.] ", number):
        raise reader.not_a_number()
    decimal_mark = get_decimal_symbol(loc)
    thousands_mark = "," if get_group_symbol(loc) == "," else " "
    marks = [char for char in number if char in ",."]
    if not marks:
        return reader.value(number, "")
    mark = marks[-1]
    head, tail = number[: number.rfind(mark)], number[number.rfind(mark) + 1 :]
    if len(set(marks)) == 2:
        # "1,000.50": the last mark is the decimal one, the other groups thousands.
        if marks.count(mark) > 1:
            raise reader.not_a_number()
        value = reader.value(head.replace(marks[0], " "), tail)
        if mark == decimal_mark:
            return value
        raise reader.question(value)
    if len(marks) > 1:
        # "1,000,000": a repeated mark can only group thousands.
        value = reader.value(number.replace(mark, " "), "")
        if mark == thousands_mark:
            return value
        raise reader.question(value)
    if len(tail) == 3 and head:
        # "1,000" / "1.000": a thousands mark, or a decimal mark with three places?
        as_thousands = reader.value(number.replace(mark, " "), "")
        if mark == thousands_mark:
            return as_thousands
        if tail[reader.places :].strip("0"):
            raise reader.question(as_thousands)
        raise reader.question(reader.value(head, tail), as_thousands)
    value = reader.value(head or "0", tail)
    if mark in (decimal_mark, "."):
        # No language we speak groups thousands with a point, so "10.50" has one reading.
        return value
    raise reader.question(value)  # English "10,50": the thousands mark in a decimal mark's place


def _strip_currency(text: str, currency: str, loc: str) -> str:
    code = currency.upper()
    signs = sorted({*CURRENCY_SIGNS, code, code.lower(), get_currency_symbol(code, loc)} - {""}, key=len)
    changed = True
    while changed and text:
        changed = False
        for sign in reversed(signs):
            if text.startswith(sign):
                text, changed = text[len(sign) :].strip(), True
            if text.endswith(sign):
                text, changed = text[: -len(sign)].strip(), True
    return text


@dataclass(frozen=True)
class _Reader:
    loc: str
    currency: str

    @property
    def places(self) -> int:
        return exponent(self.currency)

    def value(self, whole: str, fraction: str) -> int:
        """Minor units from whole units (space-grouped in threes) and a fraction's digits."""
        groups = whole.split(" ")
        if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
            raise self.not_a_number()
        digits = "".join(groups)
        if not digits.isdigit() or (fraction and not fraction.isdigit()):
            raise self.not_a_number()
        if len(digits.lstrip("0")) > LONGEST_WHOLE_PART:
            raise AmountInputError("too_large", TOO_LARGE)
        if fraction[self.places :].strip("0"):
            if self.places == 0:
                raise AmountInputError("too_many_places", WHOLE_UNITS, {"currency": self.currency.upper()})
            raise AmountInputError("too_many_places", TOO_MANY_PLACES, {"places": str(self.places)})
        # Babel reads the canonical form of what the donor meant, in the donor's own notation.
        kept = fraction[: self.places]
        canonical = digits + (get_decimal_symbol(self.loc) + kept if kept else "")
        return int(parse_decimal(canonical, locale=self.loc, strict=True).scaleb(self.places))

    def typed(self, amount: int) -> str:
        """How to type ``amount`` so the rule reads it without a question: '10.50', '10,50', '1000'."""
        whole = amount % 10**self.places == 0
        pattern = "0" if whole else "0." + "0" * self.places
        return format_decimal(Decimal(amount).scaleb(-self.places), format=pattern, locale=self.loc)

    def question(self, *readings: int) -> AmountInputError:
        unique = tuple(dict.fromkeys(readings))
        if len(unique) == 1:
            variables = {"amount": self.money(unique[0]), "typed": self.typed(unique[0])}
            return AmountInputError("ambiguous", DID_YOU_MEAN, variables, unique)
        first, second = unique
        variables = {
            "first": self.money(first),
            "second": self.money(second),
            "first_typed": self.typed(first),
            "second_typed": self.typed(second),
        }
        return AmountInputError("ambiguous", WHICH_ONE, variables, unique)

    def money(self, amount: int) -> str:
        return format_amount(amount, self.currency, self.loc)

    def not_a_number(self) -> AmountInputError:
        if self.places == 0:
            return AmountInputError("not_a_number", NOT_A_WHOLE_NUMBER, {"whole": "500"})
        decimal = format_decimal(Decimal("25.50"), format="0.00", locale=self.loc)
        return AmountInputError("not_a_number", NOT_A_NUMBER, {"whole": "25", "decimal": decimal})


class AmountChoiceError(ValueError):
    """The donor's amount cannot be known from the form; ``message`` is in the donor's language."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def chosen_amount(form: Any, currency: str, locale: str) -> int:
    """The amount the donor chose, in minor units: a suggestion, or what they typed.

    A typed amount wins over the suggestion the page preselected (the donor typed it; they did
    not pick the preselected one). A typed amount beside a suggestion the donor picked
    themselves is a question, never a silent choice between them.
    """
    choice = str(form.get("amount_choice") or "").strip()
    custom = str(form.get("custom_amount") or "").strip()
    preselected = str(form.get("amount_preselected") or "").strip()
    if choice not in ("", "custom") and not (choice.isascii() and choice.isdigit() and len(choice) <= 12):
        raise AmountChoiceError(gettext(N_("Choose one of the amounts shown."), locale))
    if not custom:
        if choice in ("", "custom"):
            raise AmountChoiceError(gettext(N_("Choose an amount or enter your own."), locale))
        return int(choice)
    try:
        typed = parse_amount(custom, currency, locale)
    except AmountInputError as exc:
        raise AmountChoiceError(gettext(exc.template, locale, **exc.variables)) from None
    if choice in ("", "custom", preselected) or int(choice) == typed:
        return typed
    money = babel_locale_for(locale)
    raise AmountChoiceError(
        gettext(
            N_(
                "You selected %(chosen)s and typed %(typed)s. Which would you like to give? Select "
                "“Other amount” to give %(typed)s, or clear the box to give %(chosen)s."
            ),
            locale,
            chosen=format_amount(int(choice), currency, money),
            typed=format_amount(typed, currency, money),
        )
    )
