"""The tests' loopback HTTP servers: nothing of theirs lands in a test's captured stderr."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer


class QuietHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` whose request errors are kept in ``errors`` instead of printed.

    socketserver prints "Exception occurred during processing of request" and a traceback to
    ``sys.stderr`` when a handler raises, and under pytest that is the captured stderr of whichever
    test is running: a client that hangs up on a kept-alive connection (usual once it has its
    answer, and timed by the load on the machine) would fail a test that checks its own stderr.
    A hang-up is the client's business and is dropped; anything else is kept for a test to see.
    """

    daemon_threads = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.errors: list[BaseException] = []

    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, ConnectionError | TimeoutError):
            self.errors.append(error)
