"""Fixtures of the reliability tier: the functional tier's moto set-up (tables from template.yaml, a fixed clock)."""

from __future__ import annotations

from tests.functional.api.conftest import api, clinic, patient_id
from tests.functional.conftest import aws, function_env, lambda_context

__all__ = ["api", "aws", "clinic", "function_env", "lambda_context", "patient_id"]
