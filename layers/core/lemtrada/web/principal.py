"""The caller, read from the JWT claims API Gateway's authorizer verified.

HTTP APIs flatten array claims into strings: ``cognito:groups`` arrives as ``"[clinicians admins]"``; a token
from another issuer may send a real list or a JSON array. All three forms are read the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lemtrada.services.actor import Actor, Role

_ROLES = {role.value: role for role in Role}


def parse_groups(raw: object) -> frozenset[Role]:
    """The known roles in a ``cognito:groups`` claim, whatever shape it arrived in; unknown groups dropped."""
    names: list[str] = []
    if isinstance(raw, list | tuple):
        names = [str(item) for item in raw]
    elif isinstance(raw, str):
        text = raw.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                loaded = json.loads(text)
            except ValueError:
                loaded = None
            inner = text[1:-1].replace(",", " ").split()
            names = [str(item) for item in loaded] if isinstance(loaded, list) else inner
        else:
            names = text.replace(",", " ").split()
    return frozenset(_ROLES[name] for name in names if name in _ROLES)


def claims_of(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The verified JWT claims of an HTTP API v2 event (empty when the route has no authorizer)."""
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    jwt = authorizer.get("jwt") or {}
    claims = jwt.get("claims") or {}
    return claims if isinstance(claims, Mapping) else {}


def actor_from_claims(claims: Mapping[str, Any]) -> Actor | None:
    """The caller, or None without a subject (the API then answers 404 like for anything not the caller's)."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        return None
    clinic = claims.get("custom:clinic_id")
    return Actor(
        sub=sub,
        groups=parse_groups(claims.get("cognito:groups")),
        clinic_id=clinic if isinstance(clinic, str) and clinic else None,
    )
