"""Every table of the service on one ``Base.metadata``, through one import.

Each package keeps its own tables beside its code; Alembic (``migrations/env.py``) and the tests'
clean-up import this module so that none is missed. Nothing in the service imports it: a module
that queries a table imports that table's module itself.
"""

from __future__ import annotations

from service import outbox
from service.donations import models as donations_models
from service.finance import models as finance_models
from service.matching import models as matching_models
from service.models import Base

__all__ = ["Base", "donations_models", "finance_models", "matching_models", "outbox"]
