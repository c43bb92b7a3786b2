"""A client that hangs up in the middle of its request body is no error of the server."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from tests.admin.helpers import NORTHJOBS_KEY, AdminProcess


def _abort_body(port: int, path: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {NORTHJOBS_KEY}"
            "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n"
            "\r\ntoken=abc".encode()
        )
        time.sleep(0.2)


def test_an_aborted_body_is_logged_as_info_without_a_traceback(
    start_admin: Callable[..., AdminProcess], redis_url: str
) -> None:
    admin = start_admin(redis_url)
    for path in ("/dashboard/login", "/v1/messages", "/v1/links", "/v1/conversions"):
        _abort_body(admin.port, path)
    deadline = time.monotonic() + 10
    while admin.log_text().count("before sending its whole body") < 4:
        assert time.monotonic() < deadline, admin.log_text()[-3000:]
        time.sleep(0.05)

    log = admin.log_text()
    assert '"level":"error"' not in log and "Traceback" not in log, log[-3000:]
