"""Appeals: loading definitions, looking them up, closing them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemas.appeals import AppealDefinitionSchema

from .errors import NotFound, ValidationFailed
from .models import Appeal, utcnow

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
    schema = AppealDefinitionSchema(descriptor_prefix=descriptor_prefix)
    loaded, errors = [], {}
    for index, item in enumerate(raw):
        try:
            loaded.append(schema.load(item))
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            slug = item.get("slug") if isinstance(item, dict) else None
            prefix = f"[{index}]" + (f" {slug}" if slug else "")
            for field, field_messages in messages.items():
                errors[f"{prefix}.{field}"] = field_messages
    if errors:
        raise ValidationFailed("Appeal definitions are not valid.", fields=errors)
    return loaded


def upsert_appeals(db: Session, definitions: list[dict[str, Any]]) -> list[tuple[Appeal, bool]]:
    """Create or update appeals by slug; returns each appeal with whether it was created."""
    results = []
    for definition in definitions:
        appeal = db.scalar(select(Appeal).where(Appeal.slug == definition["slug"]))
        created = appeal is None
        if appeal is None:
            appeal = Appeal(slug=definition["slug"])
            db.add(appeal)
        for key, value in definition.items():
            setattr(appeal, key, value)
        results.append((appeal, created))
    db.flush()
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
