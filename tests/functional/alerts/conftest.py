"""The patient API's fixtures (moto tables from template.yaml, the real handlers, a fixed clock) for the drain."""

from __future__ import annotations

from tests.functional.api.conftest import api, clinic

__all__ = ["api", "clinic"]
