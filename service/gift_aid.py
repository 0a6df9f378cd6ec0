"""Gift Aid: the donor's declaration (HMRC's model wording, versioned) and who may be offered it.

A declaration is only valid with the donor's full name, home address (house name or number and
postcode), the charity's name and the taxpayer statement; the exact words the donor accepted are
identified by ``wording_version`` so a claim can be defended later. The schedule rows follow the
columns of HMRC's Charities Online Gift Aid schedule spreadsheet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.postcode import normalise_postcode

from .models import Appeal

# Each version's words never change once donors have accepted them; new wording, new version.
# HMRC's model declaration for a donation and future donations, which covers one-off and monthly
# gifts alike; the amount is on the donation the declaration is stored with.
WORDING_VERSION = "hmrc-model-2026-1"
_WORDING: dict[str, str] = {
    "en": "I want to Gift Aid my donation and any donations I make in the future to {charity}. "
    "I am a UK taxpayer and understand that if I pay less Income Tax and/or Capital Gains Tax than "
    "the amount of Gift Aid claimed on all my donations in that tax year it is my responsibility to "
    "pay any difference.",
    "uk": "Я хочу, щоб {charity} застосувала Gift Aid до моєї пожертви та всіх моїх майбутніх "
    "пожертв. Я є платником податків у Великій Британії й розумію, що якщо я сплачу менше "
    "прибуткового податку та/або податку на приріст капіталу, ніж сума Gift Aid, заявлена щодо "
    "всіх моїх пожертв у цьому податковому році, я відповідаю за сплату різниці.",
}


def declaration_text(charity: str, locale: str = "en", version: str = WORDING_VERSION) -> str:
    """The declaration exactly as shown to the donor for ``version`` (English when untranslated)."""
    if version != WORDING_VERSION:
        raise KeyError(version)
    return _WORDING.get(locale.split("_")[0], _WORDING["en"]).format(charity=charity)


def offers_gift_aid(appeal: Appeal, currency: str) -> bool:
    return bool(appeal.gift_aid_enabled) and currency == "gbp"


@dataclass(frozen=True)
class GiftAidDeclaration:
    first_name: str
    last_name: str
    house: str
    postcode: str
    title: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title, "first_name": self.first_name, "last_name": self.last_name,
            "house": self.house, "postcode": self.postcode,
        }  # fmt: skip


def declaration_from_fields(data: dict[str, Any] | None) -> GiftAidDeclaration | None:
    """Build a declaration from validated fields (API or donate form); None when not declared."""
    if not data:
        return None
    postcode = normalise_postcode(data["postcode"])
    if postcode is None:
        raise ValueError("postcode was not validated")
    return GiftAidDeclaration(
        title=(data.get("title") or "").strip() or None,
        first_name=data["first_name"].strip(),
        last_name=data["last_name"].strip(),
        house=data["house"].strip(),
        postcode=postcode,
    )
