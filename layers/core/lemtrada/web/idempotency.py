"""``Idempotency-Key`` on writes: a phone that retries gets the first answer back and nothing is stored twice.

Powertools idempotency keeps the records in ``IDEMPOTENCY_TABLE_NAME``. The key is scoped by the caller's
``sub``, the method and the concrete path, so two users (or two patients' routes) never share a key. The request
body is the validation payload: the same key with a different body is refused (422, ``idempotency_key_reused``).
Only successful answers are kept; a failed attempt may be retried with the same key.

Powertools' idempotency utility (and boto3 with it) is imported on first use, so a function that imports this
module only for ``WriteAnswer`` (the reading function, through ``lemtrada.web.api``) does not load it at start.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from lemtrada import bootstrap
from lemtrada.services.errors import Conflict, ValidationFailed, Violation

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

HEADER = "idempotency-key"
EXPIRES_AFTER_SECONDS = 24 * 3600
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")

WriteAnswer = dict[str, Any]
"""What a write returns and what a replay gives back: ``{"status": int, "body": ..., "headers": {...}}``."""


@cache
def _persistence() -> DynamoDBPersistenceLayer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415 - writers only

    # The bootstrap's client, shared with the repository: one client (one service model parsed) per cold start.
    return DynamoDBPersistenceLayer(
        table_name=bootstrap.settings().idempotency_table_name, boto3_client=bootstrap.dynamodb()
    )


@cache
def _config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig  # noqa: PLC0415 - writers only

    return IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="body",
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        raise_on_no_idempotency_key=True,
    )


def reset() -> None:
    """Forget the cached store (tests start a fresh moto account per test; ``bootstrap.use()`` forgets the client)."""
    _persistence.cache_clear()
    _config.cache_clear()


def register_context(context: LambdaContext | None) -> None:
    """Lets an in-progress record expire with the invocation, so a timed-out attempt can be retried."""
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        _config().register_lambda_context(context)


def run_idempotent(
    headers: Mapping[str, str],
    scope: str,
    body: Any,
    write: Callable[[], WriteAnswer],
) -> WriteAnswer:
    """Run ``write`` once per (scope, key); without a key, just run it."""
    key = next((value for name, value in headers.items() if name.lower() == HEADER), None)
    if key is None:
        return write()
    from aws_lambda_powertools.utilities.idempotency import idempotent_function  # noqa: PLC0415 - writers only
    from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    if not _KEY.match(key):
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 128 visible ASCII characters",
            violations=[Violation(code="invalid", field="Idempotency-Key", detail="1-128 visible ASCII characters")],
        )
    once = idempotent_function(
        _call,
        data_keyword_argument="request",
        persistence_store=_persistence(),
        config=_config(),
        key_prefix="write",
    )
    try:
        answer: WriteAnswer = once(request={"scope": f"{scope} {key}", "body": body}, write=write)
    except IdempotencyValidationError as error:
        raise ValidationFailed(
            "this Idempotency-Key was already used with a different request body",
            code="idempotency_key_reused",
        ) from error
    except IdempotencyAlreadyInProgressError as error:
        raise Conflict(
            "a request with this Idempotency-Key is still being processed; retry shortly",
            code="idempotency_in_progress",
        ) from error
    return answer


def _call(*, request: Mapping[str, Any], write: Callable[[], WriteAnswer]) -> WriteAnswer:
    """What Powertools runs once per key: ``request`` is the hashed payload, ``write`` the work."""
    del request  # hashed by Powertools (scope + key) and validated (body); the write needs none of it
    return write()
