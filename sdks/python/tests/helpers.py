"""Driving real ASGI apps with real scopes, and real WSGI servers on port 0."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import urllib.error
import urllib.request
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


def http_scope(
    method: str, path: str, headers: Sequence[Tuple[str, str]] = (), root_path: str = ""
) -> Dict[str, Any]:
    raw, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": root_path + raw,
        "raw_path": (root_path + raw).encode(),
        "query_string": query.encode(),
        "root_path": root_path,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class AsgiResult:
    def __init__(self) -> None:
        self.status: Optional[int] = None
        self.body = b""
        self.messages: List[Dict[str, Any]] = []
        self.exception: Optional[BaseException] = None


async def call_asgi_async(app: Any, scope: Dict[str, Any], body: bytes = b"") -> AsgiResult:
    result = AsgiResult()
    sent_request = False
    disconnected = asyncio.Event()

    async def receive() -> Dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": body, "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: Dict[str, Any]) -> None:
        result.messages.append(message)
        if message["type"] == "http.response.start":
            result.status = message["status"]
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    try:
        await app(scope, receive, send)
    except BaseException as e:  # noqa: BLE001
        result.exception = e
    finally:
        disconnected.set()
    return result


def call_asgi(
    app: Any,
    method: str,
    path: str,
    headers: Sequence[Tuple[str, str]] = (),
    root_path: str = "",
) -> AsgiResult:
    return asyncio.run(call_asgi_async(app, http_scope(method, path, headers, root_path)))


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class _QuietServer(WSGIServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """A real wsgiref server on 127.0.0.1, port 0; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=_QuietServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def http_get(url: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def django_setup() -> None:
    """Configures Django once per process for the tests (URLs in django_urls.py)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF="django_urls",
            MIDDLEWARE=["sentinel_sensor.django.SentinelRouteMiddleware"],
            INSTALLED_APPS=[],
            LOGGING_CONFIG=None,
        )
        django.setup()
