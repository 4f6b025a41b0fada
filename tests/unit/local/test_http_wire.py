"""The HTTP front over a real socket, as a client meets API Gateway: any method, chunked bodies, broken framing."""

from __future__ import annotations

import io
import json
import socket
import textwrap
import threading
from collections.abc import Iterator
from email.message import Message

import pytest
import requests

from local.functions import FunctionRunner, FunctionSpec
from local.routes import make_route
from local.server import BadRequestError, Front, FrontServer, read_body
from local.tokens import SigningKey

ECHO = """
import base64, json

def handler(event, context):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"method": event["requestContext"]["http"]["method"], "body": body})}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FrontServer]:
    folder = tmp_path_factory.mktemp("wire") / "echo"
    folder.mkdir()
    (folder / "app.py").write_text(textwrap.dedent(ECHO))
    spec = FunctionSpec("Echo", folder, "app.handler", 128, 3.0, {})
    routes = [make_route("Echo", "POST", "/echo"), make_route("Echo", "GET", "/echo")]
    front = Front(routes=routes, runner=FunctionRunner({"Echo": spec}, {}), key=SigningKey.generate(), quiet=True)
    front_server = FrontServer(0, front)
    thread = threading.Thread(target=front_server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield front_server
    front_server.shutdown()
    front_server.server_close()


def _url(server: FrontServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def _raw(server: FrontServer, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes or a full answer arrives."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        while True:
            try:
                part = connection.recv(65536)
            except TimeoutError:
                break
            if not part:
                break
            received += part
            head, _, rest = received.partition(b"\r\n\r\n")
            lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if lengths and len(rest) >= int(lengths[0].split(b":")[1]):
                break
    return received


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "CONNECTX", "PATCH", "DELETE", "OPTIONS"])
def test_a_method_without_a_route_is_404_not_found_json(server: FrontServer, method: str) -> None:
    response = requests.request(method, _url(server, "/echo"), timeout=5)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"message": "Not Found"}


def test_a_chunked_body_reaches_the_handler(server: FrontServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"patient'
        yield b'_id": "p-1"}'

    response = requests.post(_url(server, "/echo"), data=chunks(), timeout=5)
    assert response.status_code == 200
    assert response.json() == {"method": "POST", "body": '{"patient_id": "p-1"}'}


def test_a_chunked_body_with_extensions_and_trailers_on_a_kept_alive_connection(server: FrontServer) -> None:
    chunked = b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n"
    request = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked
        + b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        while part := connection.recv(65536):
            received += part
    assert received.count(b"HTTP/1.1 200") == 2
    assert b'"body": "hello!"' in received
    assert b'"method": "GET"' in received


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b"5, 6"])
def test_a_malformed_content_length_is_a_400_answer(server: FrontServer, length: bytes) -> None:
    answer = _raw(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}")
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert answer.endswith(b'{"message":"Bad Request"}')


def test_a_broken_chunk_is_a_400_answer(server: FrontServer) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = _raw(server, head + b"zz\r\nhello\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer


def _headers(**values: str) -> Message:
    message = Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


def test_read_body_refuses_what_api_gateway_refuses() -> None:
    assert read_body(_headers(content_length="2"), io.BytesIO(b"{}")) == b"{}"
    assert read_body(_headers(), io.BytesIO(b"ignored")) == b""
    with pytest.raises(BadRequestError) as too_large:
        read_body(_headers(content_length="11"), io.BytesIO(b"x" * 11), limit=10)
    assert too_large.value.status == 413
    with pytest.raises(BadRequestError):
        read_body(_headers(content_length="5"), io.BytesIO(b"abc"))  # the client hung up early
    with pytest.raises(BadRequestError):
        read_body(_headers(transfer_encoding="gzip"), io.BytesIO(b""))
    with pytest.raises(BadRequestError) as chunk_too_large:
        read_body(_headers(transfer_encoding="chunked"), io.BytesIO(b"b\r\nhello world\r\n0\r\n\r\n"), limit=10)
    assert chunk_too_large.value.status == 413
    assert json.loads(read_body(_headers(transfer_encoding="chunked"), io.BytesIO(b"2\r\n{}\r\n0\r\n\r\n"))) == {}
