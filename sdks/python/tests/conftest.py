"""A real HTTP receiver on 127.0.0.1 standing in for Sentinel's batch endpoint."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

KEY = "0123456789abcdef0123456789abcdef"
PROJECT = 42
FIELDS = {"tenant_id", "endpoint", "method", "status_code", "latency_ms", "timestamp"}

Answer = Tuple[int, Dict[str, str], bytes]


@dataclass
class Post:
    path: str
    headers: Dict[str, str]
    raw: bytes
    body: bytes
    records: List[Dict[str, Any]]
    answer: Answer = field(default=(0, {}, b""))


def check_record(r: Any) -> Optional[str]:
    """Sentinel's per-record rules (sentinel_protocol::requests), plus: exactly our six fields."""
    if not isinstance(r, dict):
        return "not an object"
    if set(r) != FIELDS:
        return f"fields are {sorted(r)}"
    t = r["tenant_id"]
    if t is not None and not (isinstance(t, str) and 0 < len(t) <= 200):
        return "tenant_id"
    e = r["endpoint"]
    if not (isinstance(e, str) and e.strip() and len(e) <= 200):
        return "endpoint"
    m = r["method"]
    if not (isinstance(m, str) and len(m) <= 16 and (m == "" or (m.isalpha() and m.isupper()))):
        return "method"
    s = r["status_code"]
    if not (isinstance(s, int) and 100 <= s <= 599):
        return "status_code"
    lat = r["latency_ms"]
    if not (isinstance(lat, (int, float)) and 0 <= lat < 3_600_000):
        return "latency_ms"
    ts = r["timestamp"]
    now = time.time()
    if not (isinstance(ts, float) and now - 86_400 <= ts <= now + 300):
        return "timestamp"
    return None


class Receiver:
    """Records every POST; answers like Sentinel unless told otherwise through ``answers``."""

    def __init__(self) -> None:
        self.posts: List[Post] = []
        # Scripted answers, used first-in first-out before the default one.
        self.answers: List[Answer] = []
        # Or a function deciding per post (returns None for the default answer).
        self.answer_with: Optional[Callable[[Post], Optional[Answer]]] = None
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = raw
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(raw)
                if self.headers.get("Content-Type") == "application/x-ndjson":
                    records = [json.loads(line) for line in body.splitlines() if line.strip()]
                else:
                    records = json.loads(body)
                post = Post(self.path, dict(self.headers.items()), raw, body, records)
                answer = receiver._answer(post)
                post.answer = answer
                with receiver.cond:
                    receiver.posts.append(post)
                    receiver.cond.notify_all()
                status, headers, payload = answer
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def _answer(self, post: Post) -> Answer:
        with self.cond:
            if self.answers:
                return self.answers.pop(0)
        if self.answer_with is not None:
            a = self.answer_with(post)
            if a is not None:
                return a
        errors = [
            {"index": i, "reason": reason}
            for i, reason in ((i, check_record(r)) for i, r in enumerate(post.records))
            if reason
        ]
        doc = {"accepted": len(post.records) - len(errors), "rejected": len(errors), "errors": errors}
        return 200, {}, json.dumps(doc).encode()

    def dsn(self, prefix: str = "") -> str:
        return f"http://{KEY}@127.0.0.1:{self.port}{prefix}/{PROJECT}"

    @property
    def records(self) -> List[Dict[str, Any]]:
        with self.cond:
            return [r for p in self.posts for r in p.records]

    def accepted_records(self) -> List[Dict[str, Any]]:
        with self.cond:
            return [r for p in self.posts if p.answer[0] == 200 for r in p.records]

    def wait_posts(self, n: int, timeout: float = 5.0) -> List[Post]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.posts) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def down_dsn() -> str:
    """A DSN pointing at a local port nothing listens on (connections are refused at once)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://{KEY}@127.0.0.1:{port}/{PROJECT}"


@pytest.fixture
def sensors():
    """Sensors made through this fixture are closed after the test."""
    made = []
    from sentinel_sensor import Sensor

    def make(dsn: str, **options: Any) -> Sensor:
        options.setdefault("flush_interval", 0.05)
        s = Sensor(dsn, **options)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close(timeout=0.2)
