"""Local ID tokens and the checks API Gateway's JWT authorizer makes on them.

Tokens are shaped like Cognito ID tokens (`sub`, `cognito:groups`, `custom:clinic_id`, `token_use`, `aud` = the
app client id) and signed RS256 with a key generated on first start into the git-ignored data folder. Every
authorised route of the local stack checks them the way HTTP API does, so a handler never sees a request that
API Gateway would have refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROLES = ("clinicians", "patients", "admins", "lab_interfaces")
LOCAL_ISSUER = "http://127.0.0.1/_local/cognito"
LOCAL_CLIENT_ID = "local-app-client"
TOKEN_LIFETIME_SECONDS = 3600
KEY_FILE = "jwt-signing-key.pem"


class AuthError(Exception):
    """A request API Gateway refuses before the handler runs: 401 Unauthorized or 403 Forbidden."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description

    @property
    def message(self) -> str:
        """The body message HTTP API answers with."""
        return "Unauthorized" if self.status == 401 else "Forbidden"


@dataclass(frozen=True)
class SigningKey:
    """The local RSA key: signs tokens and verifies them."""

    private_key: rsa.RSAPrivateKey

    @property
    def kid(self) -> str:
        """Key id put into token headers: a thumbprint of the public key."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()[:16]

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key (tests; the stack uses load_or_create)."""
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load_or_create(cls, folder: Path) -> SigningKey:
        """The key stored in folder, created (readable by the owner only) on first start."""
        path = folder / KEY_FILE
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ValueError(f"{path} does not hold an RSA private key")
            return cls(loaded)
        key = cls.generate()
        folder.mkdir(parents=True, exist_ok=True)
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        return key


def issue_token(
    key: SigningKey,
    role: str,
    *,
    sub: str | None = None,
    clinic_id: str | None = None,
    issuer: str = LOCAL_ISSUER,
    audience: str = LOCAL_CLIENT_ID,
    now: int | None = None,
) -> str:
    """An ID-token-shaped JWT for one role, valid for an hour."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    issued = int(time.time()) if now is None else now
    subject = sub or str(uuid.uuid4())
    claims: dict[str, Any] = {
        "sub": subject,
        "cognito:groups": [role],
        "cognito:username": subject,
        "token_use": "id",
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "auth_time": issued,
        "exp": issued + TOKEN_LIFETIME_SECONDS,
        "jti": str(uuid.uuid4()),
    }
    if clinic_id is not None:
        claims["custom:clinic_id"] = clinic_id
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def token_from_request(identity_source: str, headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """The raw token named by the authorizer's identity source, `Bearer ` prefix removed."""
    source = identity_source.split(",", maxsplit=1)[0].strip()
    value: str | None = None
    if source.startswith("$request.header."):
        value = headers.get(source.removeprefix("$request.header.").lower())
    elif source.startswith("$request.querystring."):
        value = query.get(source.removeprefix("$request.querystring."))
    if not value or not value.strip():
        raise AuthError(401, "missing token")
    value = value.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value


def verify_token(
    token: str,
    key: SigningKey,
    issuer: str,
    audience: tuple[str, ...],
    scopes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The token's claims if API Gateway's JWT authorizer would accept it, else AuthError."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise AuthError(401, f"malformed token: {error}") from error
    if header.get("alg") != "RS256":
        raise AuthError(401, f"unsupported algorithm {header.get('alg')!r}")
    if header.get("kid") not in (None, key.kid):
        raise AuthError(401, "unknown signing key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=["RS256"],
            issuer=issuer,
            options={"require": ["exp", "iss"], "verify_aud": False},
            leeway=0,
        )
    except jwt.ExpiredSignatureError as error:
        raise AuthError(401, "the token has expired") from error
    except jwt.ImmatureSignatureError as error:
        raise AuthError(401, "the token is not valid yet") from error
    except jwt.InvalidIssuerError as error:
        raise AuthError(401, "the token has an unexpected issuer") from error
    except jwt.InvalidSignatureError as error:
        raise AuthError(401, "the token signature is invalid") from error
    except jwt.PyJWTError as error:
        raise AuthError(401, f"invalid token: {error}") from error
    token_audience = claims.get("aud")
    audiences = [token_audience] if isinstance(token_audience, str) else list(token_audience or [])
    if token_audience is None and "client_id" in claims:
        audiences = [claims["client_id"]]  # access tokens carry client_id instead of aud
    if not set(audiences) & set(audience):
        raise AuthError(401, "the token has an unexpected audience")
    if scopes:
        granted = set(str(claims.get("scope", "")).split())
        if not granted & set(scopes):
            raise AuthError(403, "the token lacks the route's scopes")
    return claims


def flatten_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as HTTP API passes them to a handler: every value a string, arrays as `[a b]`."""
    return {name: _claim_string(value) for name, value in claims.items()}


def _claim_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_string(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def token_scopes(claims: Mapping[str, Any]) -> list[str] | None:
    """The `scopes` of the event's JWT authorizer block: the token's scope claim, None for ID tokens."""
    scope = claims.get("scope")
    return str(scope).split() if scope else None
