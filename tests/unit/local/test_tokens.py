"""Local tokens and the JWT authorizer's checks: every kind of bad token is a 401, as on HTTP API."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest

from local.tokens import (
    LOCAL_CLIENT_ID,
    LOCAL_ISSUER,
    AuthError,
    SigningKey,
    flatten_claims,
    issue_token,
    token_from_request,
    token_scopes,
    verify_token,
)

AUDIENCE = (LOCAL_CLIENT_ID,)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


def _sign(key: SigningKey, **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "u1",
        "cognito:groups": ["patients"],
        "token_use": "id",
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_CLIENT_ID,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_an_issued_token_verifies_with_its_claims(key: SigningKey) -> None:
    token = issue_token(key, "clinicians", sub="s-1", clinic_id="c-1")

    claims = verify_token(token, key, LOCAL_ISSUER, AUDIENCE)

    assert claims["sub"] == "s-1"
    assert claims["cognito:groups"] == ["clinicians"]
    assert claims["custom:clinic_id"] == "c-1"
    assert claims["token_use"] == "id"
    assert claims["auth_time"] == claims["iat"]
    assert claims["exp"] == claims["iat"] + 3600


def test_a_token_without_clinic_has_no_clinic_claim(key: SigningKey) -> None:
    claims = verify_token(issue_token(key, "patients"), key, LOCAL_ISSUER, AUDIENCE)

    assert "custom:clinic_id" not in claims
    assert claims["sub"]


def test_an_unknown_role_gets_no_token(key: SigningKey) -> None:
    with pytest.raises(ValueError, match="role"):
        issue_token(key, "nurses")


def _bad_tokens(key: SigningKey) -> dict[str, str]:
    other = SigningKey.generate()
    now = int(time.time())
    header, payload, _ = _sign(key).split(".")
    return {
        "malformed": "not-a-jwt",
        "three garbage parts": "a.b.c",
        "expired": _sign(key, iat=now - 7200, exp=now - 3600),
        "not yet valid": _sign(key, nbf=now + 600),
        "issued in the future": _sign(key, iat=now + 600),
        "no expiry": _sign(key, exp=None),
        "wrong issuer": _sign(key, iss="https://cognito-idp.us-east-1.amazonaws.com/elsewhere"),
        "wrong audience": _sign(key, aud="another-client"),
        "no audience": _sign(key, aud=None),
        "signed by another key": jwt.encode(
            jwt.decode(_sign(key), options={"verify_signature": False}),
            other.private_key,
            algorithm="RS256",
        ),
        "unknown kid": jwt.encode(
            jwt.decode(_sign(key), options={"verify_signature": False}),
            other.private_key,
            algorithm="RS256",
            headers={"kid": other.kid},
        ),
        "tampered payload": f"{header}.{_b64({'sub': 'admin', 'iss': LOCAL_ISSUER, 'aud': LOCAL_CLIENT_ID})}."
        + _sign(key).split(".")[2],
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg HS256": jwt.encode(
            jwt.decode(_sign(key), options={"verify_signature": False}),
            "a-shared-secret-long-enough-for-hs256!",
            algorithm="HS256",
        ),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "malformed",
        "three garbage parts",
        "expired",
        "not yet valid",
        "issued in the future",
        "no expiry",
        "wrong issuer",
        "wrong audience",
        "no audience",
        "signed by another key",
        "unknown kid",
        "tampered payload",
        "alg none",
        "alg HS256",
    ],
)
def test_every_bad_token_is_unauthorized(key: SigningKey, kind: str) -> None:
    token = _bad_tokens(key)[kind]

    with pytest.raises(AuthError) as caught:
        verify_token(token, key, LOCAL_ISSUER, AUDIENCE)

    assert caught.value.status == 401
    assert caught.value.message == "Unauthorized"


def test_an_access_token_matches_the_audience_by_client_id(key: SigningKey) -> None:
    token = _sign(key, aud=None, client_id=LOCAL_CLIENT_ID, token_use="access", scope="a/read a/write")

    claims = verify_token(token, key, LOCAL_ISSUER, AUDIENCE, scopes=("a/write",))

    assert token_scopes(claims) == ["a/read", "a/write"]


def test_a_token_without_the_route_scope_is_forbidden(key: SigningKey) -> None:
    with pytest.raises(AuthError) as caught:
        verify_token(_sign(key), key, LOCAL_ISSUER, AUDIENCE, scopes=("admin/write",))

    assert (caught.value.status, caught.value.message) == (403, "Forbidden")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"authorization": "Bearer abc.def.ghi"}, "abc.def.ghi"),
        ({"authorization": "bearer   abc"}, "abc"),
        ({"authorization": "abc"}, "abc"),
    ],
)
def test_the_token_is_read_from_the_identity_source(headers: dict[str, str], expected: str) -> None:
    assert token_from_request("$request.header.Authorization", headers, {}) == expected


@pytest.mark.parametrize("headers", [{}, {"authorization": ""}, {"authorization": "   "}, {"other": "x"}])
def test_a_missing_token_is_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(AuthError) as caught:
        token_from_request("$request.header.Authorization", headers, {})

    assert caught.value.status == 401


def test_claims_are_flattened_to_strings_as_http_api_passes_them() -> None:
    flat = flatten_claims(
        {
            "sub": "u1",
            "cognito:groups": ["clinicians", "admins"],
            "exp": 1700000000,
            "email_verified": True,
            "address": {"country": "US"},
        }
    )

    assert flat == {
        "sub": "u1",
        "cognito:groups": "[clinicians admins]",
        "exp": "1700000000",
        "email_verified": "true",
        "address": '{"country":"US"}',
    }


def test_id_tokens_have_no_scopes() -> None:
    assert token_scopes({"sub": "x"}) is None


def test_the_key_is_created_once_and_kept_private(tmp_path: Path) -> None:
    first = SigningKey.load_or_create(tmp_path)
    again = SigningKey.load_or_create(tmp_path)

    assert first.kid == again.kid
    assert (tmp_path / "jwt-signing-key.pem").stat().st_mode & 0o077 == 0
