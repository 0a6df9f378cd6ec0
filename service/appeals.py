"""Appeals: loading definitions, looking them up, closing them."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.appeals import AppealDefinitionSchema

from .descriptors import suffix_problems
from .errors import NotFound, ValidationFailed
from .models import Appeal, utcnow

# A chain of successors longer than this is refused at load; it also bounds the walk at request
# time (service/donations/successors.py).
MAX_CHAIN = 10

SEED_FILE = Path(__file__).resolve().parent / "seed" / "appeals.yaml"


def read_definitions(path: Path) -> list[dict[str, Any]]:
    """Parse a YAML or JSON file holding one appeal or a list of them."""
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    if isinstance(raw, dict) and "appeals" in raw:
        raw = raw["appeals"]
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ValidationFailed("The file must hold an appeal or a list of appeals.")
    return raw


def validate_definitions(raw: list[Any], descriptor_prefix: str | None = None) -> list[dict[str, Any]]:
    """Validate every definition; the error names each bad field as ``[index].field``.

    ``descriptor_prefix`` is the Stripe account's statement descriptor prefix, which each
    appeal's suffix must fit beside (None: the longest prefix Stripe allows).
    """
    schema = AppealDefinitionSchema(suffix_problems=partial(suffix_problems, prefix=descriptor_prefix))
    loaded, errors = [], {}
    for index, item in enumerate(raw):
        try:
            loaded.append(schema.load(item))
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            slug = item.get("slug") if isinstance(item, dict) else None
            prefix = f"[{index}]" + (f" {slug}" if slug else "")
            for field, field_messages in _flat_messages(messages):
                errors[f"{prefix}.{field}"] = field_messages
    if errors:
        raise ValidationFailed("Appeal definitions are not valid.", fields=errors)
    return loaded


def _flat_messages(messages: dict[str, Any], parent: str = "") -> list[tuple[str, Any]]:
    """Nested schema errors as dotted field names (``successor.appeal``), so each names its field."""
    flat: list[tuple[str, Any]] = []
    for field, value in messages.items():
        name = f"{parent}.{field}" if parent else str(field)
        if isinstance(value, dict):
            flat.extend(_flat_messages(value, name))
        else:
            flat.append((name, value))
    return flat


def upsert_appeals(db: Session, definitions: list[dict[str, Any]]) -> list[tuple[Appeal, bool]]:
    """Create or update appeals by slug; returns each appeal with whether it was created.

    Successors are checked against this batch and the appeals already stored before anything is
    written (a missing successor or a loop raises ValidationFailed naming the field).
    """
    from .matching.rules import store_rules

    check_successors(db, definitions)
    results, match_rules = [], []
    for definition in definitions:
        definition = dict(definition)
        match_rules.append(definition.pop("match_funding", []))
        appeal = db.scalar(select(Appeal).where(Appeal.slug == definition["slug"]))
        created = appeal is None
        if appeal is None:
            appeal = Appeal(slug=definition["slug"])
            db.add(appeal)
        for key, value in definition.items():
            setattr(appeal, key, value)
        results.append((appeal, created))
    db.flush()
    for index, ((appeal, _), rules) in enumerate(zip(results, match_rules, strict=True)):
        store_rules(db, appeal, rules, label=f"[{index}] {appeal.slug}.")
    return results


def load_file(db: Session, path: Path, descriptor_prefix: str | None = None) -> list[tuple[Appeal, bool]]:
    return upsert_appeals(db, validate_definitions(read_definitions(path), descriptor_prefix))


def list_appeals(db: Session) -> list[Appeal]:
    return list(db.scalars(select(Appeal).order_by(Appeal.created_at, Appeal.id)))


def find_appeal(db: Session, slug: str) -> Appeal | None:
    return db.scalar(select(Appeal).where(Appeal.slug == slug))


def get_appeal(db: Session, slug: str) -> Appeal:
    appeal = find_appeal(db, slug)
    if appeal is None:
        raise NotFound("No appeal with that name.")
    return appeal


def close_appeal(db: Session, slug: str) -> Appeal:
    appeal = get_appeal(db, slug)
    if appeal.closed_at is None:
        appeal.closed_at = utcnow()
    return appeal


def reopen_appeal(db: Session, slug: str) -> Appeal:
    appeal = get_appeal(db, slug)
    appeal.closed_at = None
    return appeal


def check_successors(db: Session, definitions: list[dict[str, Any]]) -> None:
    """Refuse successors that name no appeal, and chains that loop, before anything is stored.

    Judged over the appeals already stored with this batch's definitions taking their place, so
    a file may define an appeal and its successor together, in any order.
    """
    stored = {a.slug: a for a in db.scalars(select(Appeal))}
    nodes: dict[str, dict[str, Any]] = {
        slug: {
            "charity_name": a.charity_name,
            "general_fund": a.general_fund,
            "successor_slug": a.successor_slug,
            "successor_general_fund": a.successor_general_fund,
        }
        for slug, a in stored.items()
    }
    for definition in definitions:
        nodes[definition["slug"]] = definition
    funds: dict[str, str] = {}
    for slug, node in sorted(nodes.items()):
        if node.get("general_fund"):
            funds.setdefault(node["charity_name"], slug)

    def target(slug: str) -> str | None:
        node = nodes[slug]
        if node.get("successor_general_fund"):
            return funds.get(node["charity_name"])
        return node.get("successor_slug")

    errors: dict[str, list[str]] = {}
    for index, definition in enumerate(definitions):
        slug = definition["slug"]
        prefix = f"[{index}] {slug}.successor"
        if definition.get("successor_general_fund") and definition["charity_name"] not in funds:
            errors[f"{prefix}.general_fund"] = [
                f"No appeal of {definition['charity_name']} is marked general_fund: true."
            ]
            continue
        named = definition.get("successor_slug")
        if named and named not in nodes:
            errors[f"{prefix}.appeal"] = [f"No appeal {named!r} in this file or already loaded."]
            continue
        chain, current = [slug], target(slug)
        while current is not None and current in nodes:
            if current in chain:
                field = "general_fund" if definition.get("successor_general_fund") else "appeal"
                errors[f"{prefix}.{field}"] = [
                    "Successors form a loop: " + " -> ".join([*chain[chain.index(current) :], current]) + "."
                ]
                break
            chain.append(current)
            if len(chain) > MAX_CHAIN:
                errors[f"{prefix}.appeal"] = [f"The chain of successors is longer than {MAX_CHAIN}."]
                break
            current = target(current)
    if errors:
        raise ValidationFailed("Appeal definitions are not valid.", fields=errors)
