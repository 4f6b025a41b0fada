"""The start-up port check: a port is busy when something listens on it, not when a closed connection lingers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from local.dynamodb import StartError
from local.stack import ensure_port_free

_TIME_WAIT = "06"  # state column of /proc/net/tcp


def _states_on_port(port: int) -> list[str]:
    """TCP states of every IPv4 socket whose local port is port (Linux /proc/net/tcp)."""
    with open("/proc/net/tcp", encoding="ascii") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return [row[3] for row in rows if int(row[1].rsplit(":", 1)[1], 16) == port]


@contextmanager
def _listener(port: int = 0) -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    try:
        yield server
    finally:
        server.close()


def _port_left_in_time_wait() -> int:
    """A port nothing listens on whose server side of a finished connection sits in TIME_WAIT (as after Ctrl-C)."""
    with _listener() as server:
        port: int = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server closes first, as DynamoDB Local does when the stack stops it
        client.recv(1)
        client.close()
    return port


def test_a_port_in_time_wait_with_no_listener_counts_as_free() -> None:
    port = _port_left_in_time_wait()
    assert _TIME_WAIT in _states_on_port(port), "the set-up must leave the port in TIME_WAIT"
    # The premise: a plain bind (what the check did before) is refused here for about a minute.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", port))

    ensure_port_free(port, "DynamoDB Local", "pass --dynamodb-port")
    ensure_port_free(port, "DynamoDB Local", "pass --dynamodb-port", host="")

    # And a server that binds as the stack's servers do starts on it at once.
    with _listener(port) as again:
        assert again.getsockname()[1] == port


@pytest.mark.parametrize("host", ["127.0.0.1", ""])
def test_a_listening_port_is_refused_with_one_clear_message(host: str) -> None:
    with _listener() as server:
        port = server.getsockname()[1]
        with pytest.raises(StartError, match=rf"port {port} \(moto SNS\) is already in use.*--sns-port"):
            ensure_port_free(port, "moto SNS", "pass --sns-port", host=host)
