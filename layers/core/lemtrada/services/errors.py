"""Failures a use case reports; the web layer turns each into an ``application/problem+json`` answer.

Each carries the HTTP status and a machine-readable ``code`` so clients never parse prose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule or malformed field: ``code`` is a section 2 rule code or ``invalid``."""

    code: str
    detail: str | None = None
    field: str | None = None
    source: str | None = None


class ServiceError(Exception):
    """Base of the use-case failures."""

    status = 500
    code = "internal_error"
    title = "Internal error"

    def __init__(self, detail: str, *, code: str | None = None, violations: Sequence[Violation] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.violations = tuple(violations)


class NotFound(ServiceError):
    """Unknown, or not the caller's to see: the two are indistinguishable on purpose (never 403)."""

    status = 404
    code = "not_found"
    title = "Not found"


class ValidationFailed(ServiceError):
    """Well-formed JSON whose values the API cannot take (beyond what the request models check)."""

    status = 422
    code = "validation_error"
    title = "Validation error"


class RuleRejected(ServiceError):
    """A regimen rule refused the request; ``code`` is the first rule code, ``violations`` lists all."""

    status = 422
    code = "rule_rejected"
    title = "Rejected by a regimen rule"

    def __init__(self, detail: str, violations: Sequence[Violation]) -> None:
        first = violations[0].code if violations else None
        super().__init__(detail, code=first, violations=violations)


class Conflict(ServiceError):
    """The request collides with the stored state (a stale version, a second infusion on a date, ...)."""

    status = 409
    code = "conflict"
    title = "Conflict"
