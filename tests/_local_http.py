"""A tiny HTTP server on 127.0.0.1 for the data-layer tests: real sockets, no internet."""
from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

# path -> (status, body, declared Content-Length or None for len(body))
Routes = dict[str, tuple[int, bytes, int | None]]


def _handler(routes: Routes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            status, body, length = routes.get(self.path, (404, b"not found", None))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True  # a short body then a close = a truncated download

        def log_message(self, *args) -> None:  # keep pytest output quiet
            pass

    return Handler


@contextmanager
def serve(routes: Routes) -> Iterator[str]:
    """Serve ``routes`` on a random local port in a thread; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(routes))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url(path: str = "/file") -> str:
    """A URL on a local port nobody listens on: connecting is refused at once (like no network)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
