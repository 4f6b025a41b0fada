"""Fixtures of the security tier: the functional tier's moto set-up (tables from template.yaml, a fixed clock)."""

from __future__ import annotations

import boto3
import pytest

from tests.functional.api.conftest import api, clinic, patient_id
from tests.functional.conftest import aws, function_env, lambda_context

__all__ = ["api", "aws", "clinic", "function_env", "lambda_context", "patient_id"]


@pytest.fixture
def topic(aws: None) -> str:
    """The digest topic the functions' TOPIC_ARN names, in moto."""
    return boto3.client("sns", region_name="eu-west-1").create_topic(Name="digest-test")["TopicArn"]
