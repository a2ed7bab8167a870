"""Drives a small app through the sensor's middleware against a real Sentinel.

    SENTINEL_DSN=http://KEY@127.0.0.1:PORT/PROJECT python sdks/python/tests/live_app.py asgi|wsgi

Requests, all through the middleware:
- tenant ``acme``: 30 requests to ``/v1/items/1`` … ``/v1/items/30``; items 1–20 answer 500, the
  other 10 answer 200;
- tenant ``beta``: 10 requests to ``/health``, 200;
- no tenant: 5 requests to ``/health``, 200.

``asgi`` calls a plain ASGI app (no server) with real HTTP scopes; its router leaves the matched
route in ``scope["route"]`` as Starlette does, so the items are reported as
``/v1/items/{item_id}``. ``wsgi`` serves a plain WSGI app with ``wsgiref`` on 127.0.0.1, port 0,
and sends real HTTP requests to it; that app has no route templates, so the items are reported as
the normalizer makes them: ``/v1/items/{id}``.

Then it flushes (10 s at most; ``SENTINEL_LIVE_FLUSH_TIMEOUT`` changes that) and prints one JSON line on stdout:
``{"sent": 45, "dropped": 0, "rejected": 0, "template": "/v1/items/{item_id}"}``. It exits 0 only
when all 45 were sent and none was dropped or rejected; 1 otherwise; 2 on bad usage.
Standard library only; the package is taken from this checkout (``../src``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sentinel_sensor import (  # noqa: E402
    Sensor,
    SentinelASGIMiddleware,
    SentinelWSGIMiddleware,
    normalize_path,
)

ITEMS = 30
FAILING_ITEMS = 20
BETA = 10
ANONYMOUS = 5
TOTAL = ITEMS + BETA + ANONYMOUS
ASGI_TEMPLATE = "/v1/items/{item_id}"


def plan():
    """(tenant or None, path) for every request, in order."""
    out = [("acme", f"/v1/items/{i}") for i in range(1, ITEMS + 1)]
    out += [("beta", "/health")] * BETA
    out += [(None, "/health")] * ANONYMOUS
    return out


def status_for(path: str) -> int:
    if path.startswith("/v1/items/"):
        return 500 if int(path.rsplit("/", 1)[1]) <= FAILING_ITEMS else 200
    return 200


# -- ASGI ---------------------------------------------------------------------------------------


class _Route:
    """What a router leaves in ``scope["route"]`` (Starlette's routes have a ``path``)."""

    def __init__(self, path: str) -> None:
        self.path = path


async def asgi_app(scope, receive, send):
    assert scope["type"] == "http"
    path = scope["path"]
    if path.startswith("/v1/items/"):
        scope["route"] = _Route(ASGI_TEMPLATE)
        scope["path_params"] = {"item_id": int(path.rsplit("/", 1)[1])}
    elif path == "/health":
        scope["route"] = _Route("/health")
    status = status_for(path)
    body = json.dumps({"status": status}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def drive_asgi(app) -> None:
    for tenant, path in plan():
        headers = [(b"host", b"live.test")]
        if tenant is not None:
            headers.append((b"x-tenant-id", tenant.encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
        }
        messages = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message, messages=messages):
            messages.append(message)

        await app(scope, receive, send)
        assert messages[0]["status"] == status_for(path), messages


def run_asgi(sensor: Sensor) -> str:
    asyncio.run(drive_asgi(SentinelASGIMiddleware(asgi_app, sensor=sensor)))
    return ASGI_TEMPLATE


# -- WSGI ---------------------------------------------------------------------------------------


def wsgi_app(environ, start_response):
    status = status_for(environ["PATH_INFO"])
    body = json.dumps({"status": status}).encode()
    reason = "Internal Server Error" if status == 500 else "OK"
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def run_wsgi(sensor: Sensor) -> str:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, SentinelWSGIMiddleware(wsgi_app, sensor=sensor), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    # Straight to the local server, whatever proxy the environment names.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        for tenant, path in plan():
            headers = {"X-Tenant-ID": tenant} if tenant is not None else {}
            try:
                with opener.open(urllib.request.Request(base + path, headers=headers), timeout=5) as r:
                    status = r.status
                    r.read()
            except urllib.error.HTTPError as e:
                with e:
                    status = e.code
            assert status == status_for(path), (path, status)
    finally:
        server.shutdown()
        server.server_close()
    return normalize_path("/v1/items/1")


def main(argv) -> int:
    if len(argv) != 2 or argv[1] not in ("asgi", "wsgi"):
        print("usage: SENTINEL_DSN=... live_app.py asgi|wsgi", file=sys.stderr)
        return 2
    dsn = os.environ.get("SENTINEL_DSN")
    if not dsn:
        print("SENTINEL_DSN is not set", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sensor = Sensor(dsn)
    template = run_asgi(sensor) if argv[1] == "asgi" else run_wsgi(sensor)
    flushed = sensor.flush(float(os.environ.get("SENTINEL_LIVE_FLUSH_TIMEOUT", "10")))
    stats = sensor.stats()
    print(
        json.dumps(
            {
                "sent": stats["sent"],
                "dropped": stats["dropped"],
                "rejected": stats["rejected"],
                "template": template,
            }
        ),
        flush=True,
    )
    ok = flushed and stats["sent"] == TOTAL and stats["dropped"] == 0 and stats["rejected"] == 0
    if not ok:
        print(f"not everything was sent: {stats}", file=sys.stderr)
    sensor.close(0.5)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
