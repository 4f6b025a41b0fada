"""Shared test set-up: the `slow` marker, and an environment in which no test can reach a real AWS account.

Every test runs with fake credentials, no profile, no shared config files and no instance metadata, and any
socket connection to an address other than loopback fails, so a forgotten endpoint override errors out
instead of calling AWS.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import pytest

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_REAL_AWS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")

# Set at import, before any test module builds a boto3 client.
for _name in _REAL_AWS:
    os.environ.pop(_name, None)
os.environ.update(_FAKE_AWS)

ROOT = Path(__file__).resolve().parent.parent


class NetworkBlockedError(OSError):
    """A test tried to connect somewhere other than this machine."""


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # Unix domain sockets and the like stay on this machine
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_loopback(address):
        raise NetworkBlockedError(f"tests talk to loopback only, not to {address!r}")
    _original_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_loopback(address):
        raise NetworkBlockedError(f"tests talk to loopback only, not to {address!r}")
    return _original_connect_ex(self, address)


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--run-slow` runs the tests marked slow as well."""
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_configure(config: pytest.Config) -> None:
    """Allow loopback connections only, for the whole run."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip slow tests unless --run-slow is given."""
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (template.yaml, functions/, layers/)."""
    return ROOT


def free_port() -> int:
    """A TCP port free on loopback right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
