"""A webhook endpoint for tests: a plain threaded HTTP server that records every POST and answers
each with the next status of `answers` (then `default`); a 3xx points at the metadata address, to
show it is not followed. It verifies nothing itself: tests check the signatures.

    with WebhookReceiver() as receiver:
        ...  # subscribe receiver.url, cause an event
        [post] = receiver.wait_for(lambda p: p.event_type == "shop.order.confirmed")

Threaded (like `testing_otlp`), so it serves sync and async tests alike, in or out of an event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Post:
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    @property
    def event_type(self) -> str:
        return self.headers.get("Shop-Event-Type", "")


@dataclass
class WebhookReceiver:
    answers: list[int] = field(default_factory=list)
    default: int = 200
    received: list[Post] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.received.append(Post(dict(self.headers.items()), body, time.monotonic()))
                    status = receiver.answers.pop(0) if receiver.answers else receiver.default
                answer = f"answered {status}".encode()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def posts(self, match: Callable[[Post], bool]) -> list[Post]:
        with self._lock:
            return [post for post in self.received if match(post)]

    def wait_for(self, match: Callable[[Post], bool], count: int = 1, within: float = 15.0) -> list[Post]:
        """The matching posts once there are `count` (blocking: from async code, `await asyncio.to_thread`)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = self.posts(match)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} matching webhook POST(s) did not arrive; got {len(self.posts(match))}")
