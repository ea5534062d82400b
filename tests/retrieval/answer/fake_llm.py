"""A small OpenAI-compatible chat server on 127.0.0.1 that streams scripted replies, for the fault cases.

Each request takes the next :class:`Reply` from the script: its pieces streamed as server-sent
events (chunked, as real servers stream), with a delay before each, an HTTP error instead, a stall
before the first byte, or the connection dropped after some pieces (a server dying mid-stream).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.quiet_http import QuietHTTPServer


@dataclass(frozen=True)
class Reply:
    """One scripted reply."""

    pieces: Sequence[str] = ()
    delay: float = 0.0
    """Seconds before each piece."""
    stall: float = 0.0
    """Seconds before the response starts at all."""
    status: int = 200
    die_after: int | None = None
    """Drop the connection (no end of stream) after this many pieces."""
    hold: threading.Event | None = None
    """After ``hold_after`` pieces, wait (up to 30 s) for this event before sending the rest."""
    hold_after: int = 0


@dataclass
class FakeServer:
    """The running server: its base URL, the script left, and the requests it got."""

    url: str
    script: deque[Reply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    released: list[bool] = field(default_factory=list)
    """Per held reply: whether its event was set while the reply waited (False: it waited 30 s in vain)."""

    def say(self, *replies: Reply) -> None:
        """Queue replies for the next requests."""
        self.script.extend(replies)


def _chunk(piece: str | None, finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": {"content": piece} if piece is not None else {}, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

        def _json(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            if self.path.rstrip("/").endswith("/models"):
                self._json(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "t"}],
                    },
                )
            else:
                self._json(404, {"error": {"message": "no such path"}})

        def _send(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            server.requests.append(json.loads(self.rfile.read(length) or b"{}"))
            reply = server.script.popleft() if server.script else Reply(["NOT_IN_SOURCES"])
            time.sleep(reply.stall)
            if reply.status != 200:
                self._json(reply.status, {"error": {"message": "scripted failure", "type": "server_error"}})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for number, piece in enumerate(reply.pieces):
                    if reply.die_after is not None and number >= reply.die_after:
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.connection.close()
                        return
                    if reply.hold is not None and number == reply.hold_after:
                        server.released.append(reply.hold.wait(30))
                    time.sleep(reply.delay)
                    self._send(_chunk(piece))
                self._send(_chunk(None, "stop"))
                self._send(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, OSError):
                return  # the client gave up (a timeout): fine

    return Handler


@contextmanager
def fake_llm_server() -> Iterator[FakeServer]:
    """Run a fake server on 127.0.0.1 (a free port) for the duration of the block."""
    state = FakeServer("", deque())
    httpd = QuietHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, name="fake-llm", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
