"""ASGI middleware (Starlette, FastAPI, Django's ASGI handler, any ASGI 3 app)."""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable, MutableMapping, Optional

from .routes import asgi_template, clean_template, normalize_path
from .sensor import Sensor

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def header_tenant(scope: Scope, header: str = "x-tenant-id") -> Optional[str]:
    """The tenant from a request header (by default ``X-Tenant-ID``), None when absent or empty."""
    name = header.lower().encode("latin-1")
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            text = value.decode("latin-1").strip()
            return text or None
    return None


class SentinelASGIMiddleware:
    """Reports one request event per HTTP request of the wrapped ASGI app.

    Parameters:
        app: the ASGI application.
        dsn: the project's DSN (see :class:`Sensor`); ignored when ``sensor`` is given.
        sensor: a :class:`Sensor` to share between several middlewares or with direct calls.
        tenant: ``callable(scope) -> str | None``, called after the app has run (so it sees what
            the app or inner middleware put in the scope); default: the ``X-Tenant-ID`` header.
        route: ``callable(scope) -> str | None`` giving the route template, called after the
            app has run; None or a None result falls back to ``scope["route"]`` and then to
            :func:`normalize_path`.
        tenant_header: the header the default ``tenant`` reads.
        **sensor_options: passed to :class:`Sensor` when ``sensor`` is not given.

    Only ``http`` scopes are recorded; ``websocket`` and ``lifespan`` pass through untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        dsn: Optional[str] = None,
        *,
        sensor: Optional[Sensor] = None,
        tenant: Optional[Callable[[Scope], Optional[str]]] = None,
        route: Optional[Callable[[Scope], Optional[str]]] = None,
        tenant_header: str = "X-Tenant-ID",
        **sensor_options: Any,
    ) -> None:
        self.app = app
        self.sensor = sensor if sensor is not None else Sensor(dsn, **sensor_options)
        self.tenant = tenant
        self.route = route
        self.tenant_header = tenant_header

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not self.sensor.enabled:
            await self.app(scope, receive, send)
            return

        start = time.perf_counter()
        root_path_before = scope.get("root_path") or ""
        state = {"status": None, "end": None}

        async def send_wrapper(message: Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                state["status"] = message.get("status")
            await send(message)
            if kind == "http.response.body" and not message.get("more_body", False):
                state["end"] = time.perf_counter()

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            # A response the client received in full keeps its status (e.g. a background task
            # failing after it); otherwise the exception is the request's outcome: 500.
            self._report(scope, root_path_before, start, state, failed=True)
            raise
        self._report(scope, root_path_before, start, state, failed=False)

    def _report(self, scope: Scope, root_path_before: str, start: float, state: dict, failed: bool) -> None:
        try:
            end = state["end"]
            status = state["status"]
            if end is None:
                end = time.perf_counter()
                status = 500 if failed or status is None else status
            elif status is None:
                status = 500
            self.sensor.record(
                self._endpoint(scope, root_path_before),
                status,
                (end - start) * 1000.0,
                tenant_id=self._tenant(scope),
                method=scope.get("method"),
            )
        except Exception:  # noqa: BLE001 - never fail the request
            self.sensor._count_error("the ASGI middleware could not report a request")

    def _tenant(self, scope: Scope) -> Optional[str]:
        if self.tenant is None:
            return header_tenant(scope, self.tenant_header)
        try:
            value = self.tenant(scope)
        except Exception:  # noqa: BLE001
            self.sensor._count_error("the tenant callable raised; the request is reported without tenant")
            return None
        return None if value is None else (str(value) or None)

    def _endpoint(self, scope: Scope, root_path_before: str) -> str:
        if self.route is not None:
            try:
                template = clean_template(self.route(scope))
            except Exception:  # noqa: BLE001
                self.sensor._count_error("the route callable raised; the path is normalized instead")
                template = None
            if template:
                return template
        template = asgi_template(scope, root_path_before)
        if template:
            return template
        path = scope.get("path") or "/"
        if root_path_before and path.startswith(root_path_before):
            # The server's own prefix (e.g. uvicorn --root-path) is not part of a route.
            path = path[len(root_path_before) :] or "/"
        return normalize_path(path)
