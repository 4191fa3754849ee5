"""A stand-in for the OpenAI chat completions API on 127.0.0.1, driven by the real `openai` client.

Usage::

    with OpenAIServer() as server:
        server.script(reply_json(doc), Reply(429, headers={"Retry-After": "120"}), "not json")
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        ...
        assert server.count() == 3
        assert server.requests[1].body["messages"][-1]["content"] ...

Scripted items are served in order, one per request: a `str` is the assistant message's content (200 with
usage), a `Reply` is a raw response (any status, body and headers), a `Stall` sleeps before answering (the
client's timeout fires first), and a callable gets the request body and returns one of those. When the
script is exhausted the server answers 500 with ``{"error": {"message": "script exhausted"}}`` so that a
test that sends more requests than it expected fails loudly. Every request is recorded (`requests`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from support.fmp_server import Reply  # the same scripted raw response (status, JSON or text body, headers)

PROMPT_TOKENS = 1200
COMPLETION_TOKENS = 300


@dataclass(frozen=True)
class Stall:
    """Sleep `seconds` before answering with `then` (the client should give up first)."""

    seconds: float
    then: Any = "{}"


@dataclass(frozen=True)
class Seen:
    """One request: monotonic arrival time, path, parsed JSON body and the Authorization header."""

    time: float
    path: str
    body: dict[str, Any]
    authorization: str | None


def completion(content: str | None, *, model: str = "gpt-4o-mini", finish_reason: str = "stop",
               refusal: str | None = None, prompt_tokens: int = PROMPT_TOKENS,
               completion_tokens: int = COMPLETION_TOKENS) -> dict[str, Any]:
    """A chat.completion object as the API returns it."""
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": refusal}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def envelope(strategy: dict[str, Any], kind: str = "rules", *, explanation: str = "as asked",
             code_reason: str | None = None) -> str:
    """The reply format of `ruleengine.llm` (`kind`, `strategy`, `code_reason`, `explanation`) as JSON text."""
    return json.dumps({"kind": kind, "strategy": strategy, "code_reason": code_reason,
                       "explanation": explanation})


class OpenAIServer:
    """A threaded HTTP server on 127.0.0.1 (port chosen by the OS) imitating POST /v1/chat/completions."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._script: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *items: Any) -> Self:
        """Append replies to the script (served in order, one per request)."""
        with self._lock:
            self._script.extend(items)
        return self

    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                item = server._next(Seen(time.monotonic(), self.path, body, self.headers.get("Authorization")))
                if callable(item):
                    item = item(body)
                if isinstance(item, Stall):
                    if server._stop.wait(item.seconds):
                        return
                    item = item.then
                reply = item if isinstance(item, Reply) else Reply(200, completion(item))
                self._send(reply, body.get("model"))

            def _send(self, reply: Reply, model: Any) -> None:
                payload = reply.body
                if isinstance(payload, dict) and "choices" in payload and isinstance(model, str):
                    payload = {**payload, "model": model}
                data = payload if isinstance(payload, bytes) else (
                    payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
                try:
                    self.send_response(reply.status)
                    content_type = "text/plain" if isinstance(payload, (str, bytes)) else "application/json"
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def _next(self, seen: Seen) -> Any:
        with self._lock:
            self.requests.append(seen)
            if self._script:
                return self._script.pop(0)
        return Reply(500, {"error": {"message": "script exhausted", "type": "server_error"}})

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:  # pragma: no cover - manual use, from tests/: python -m support.openai_server FILE...
    """Serve the given files' contents as scripted replies until interrupted (prints the base URL)."""
    import sys
    from pathlib import Path

    with OpenAIServer() as server:
        server.script(*[Path(p).read_text(encoding="utf-8") for p in sys.argv[1:]])
        print(server.base_url, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
