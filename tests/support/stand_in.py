"""What every stand-in HTTP server of the tests shares: scripted replies and a threaded server on 127.0.0.1.

A stand-in subclasses `StandInServer` and implements `answer(method, path_and_query, headers, body) -> Reply`;
the port is chosen by the OS, `url` is where clients go.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Reply:
    """One scripted response: a status, a body (list/dict -> JSON; str/bytes -> sent as is) and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class StandInServer:
    """A threaded HTTP server on 127.0.0.1 answering GET and POST through `answer`."""

    content_type = "application/json"
    _httpd: ThreadingHTTPServer | None = None

    def answer(self, method: str, raw_path: str, headers: Any, body: bytes) -> Reply:
        raise NotImplementedError

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                reply = server.answer(method, self.path, self.headers, self.rfile.read(size) if size else b"")
                body = reply.body
                data = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) \
                    else json.dumps(body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", server.content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply("GET")

            def do_POST(self) -> None:
                self._reply("POST")

            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"
