"""The test receiver takes only whole requests: a sender killed mid-request (the crash
loop's kill -9) leaves nothing behind, as with any HTTP server."""

from __future__ import annotations

import socket
import time

import httpx

from tests.receiver import receiver


def test_a_request_cut_off_mid_body_is_not_recorded() -> None:
    with receiver() as hook:
        with socket.create_connection(("127.0.0.1", hook.port)) as cut:
            cut.sendall(b'POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"dat')
        assert httpx.post(f"{hook.url}/hook", content=b"{}").status_code == 200
        time.sleep(0.2)  # the cut request's handler has seen its end of file by now
        assert [r.body for r in hook.by_path("/hook")] == [b"{}"]
