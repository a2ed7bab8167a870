"""WSGI middleware (Django, Flask, any PEP 3333 app)."""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Iterable, Iterator, Optional

from .routes import angle_to_braces, clean_template, normalize_path
from .sensor import Sensor

Environ = Dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

# Where anything (e.g. sentinel_sensor.django.SentinelRouteMiddleware) can leave the template.
ENVIRON_ROUTE_KEY = "sentinel.route"


def header_tenant(environ: Environ, header: str = "X-Tenant-ID") -> Optional[str]:
    """The tenant from a request header (by default ``X-Tenant-ID``), None when absent or empty."""
    key = "HTTP_" + header.upper().replace("-", "_")
    value = environ.get(key)
    if not value:
        return None
    return str(value).strip() or None


def wsgi_template(environ: Environ) -> Optional[str]:
    """The route template a WSGI framework left in the environ after handling the request.

    - ``environ["sentinel.route"]`` (set by :class:`sentinel_sensor.django.SentinelRouteMiddleware`
      or by your own code);
    - Flask/Werkzeug: the request object Werkzeug stores as ``environ["werkzeug.request"]`` has
      the matched ``url_rule``; ``/items/<int:item_id>`` is reported as ``/items/{item_id}``.
      Flask removes that object when its request context ends, so the middleware also looks
      when the app calls ``start_response``.
    """
    template = clean_template(environ.get(ENVIRON_ROUTE_KEY))
    if template:
        return template
    request = environ.get("werkzeug.request")
    rule = getattr(getattr(request, "url_rule", None), "rule", None)
    if isinstance(rule, str) and rule:
        return clean_template(angle_to_braces(rule))
    return None


def _raw_path(environ: Environ) -> str:
    path = environ.get("PATH_INFO") or "/"
    try:
        # PEP 3333 carries the path's bytes as latin-1; most paths are UTF-8.
        path = path.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return path


class SentinelWSGIMiddleware:
    """Reports one request event per HTTP request of the wrapped WSGI app.

    Parameters:
        app: the WSGI application.
        dsn: the project's DSN (see :class:`Sensor`); ignored when ``sensor`` is given.
        sensor: a :class:`Sensor` to share.
        tenant: ``callable(environ) -> str | None``, called when the response is closed;
            default: the ``X-Tenant-ID`` header.
        route: ``callable(environ) -> str | None`` giving the route template, called when the
            response is closed; None or a None result falls back to :func:`wsgi_template` and
            then to :func:`normalize_path` on ``PATH_INFO``.
        tenant_header: the header the default ``tenant`` reads.
        **sensor_options: passed to :class:`Sensor` when ``sensor`` is not given.

    The request is recorded when the server closes the response iterable (PEP 3333 requires it
    to), so the latency covers sending the whole body.
    """

    def __init__(
        self,
        app: WSGIApp,
        dsn: Optional[str] = None,
        *,
        sensor: Optional[Sensor] = None,
        tenant: Optional[Callable[[Environ], Optional[str]]] = None,
        route: Optional[Callable[[Environ], Optional[str]]] = None,
        tenant_header: str = "X-Tenant-ID",
        **sensor_options: Any,
    ) -> None:
        self.app = app
        self.sensor = sensor if sensor is not None else Sensor(dsn, **sensor_options)
        self.tenant = tenant
        self.route = route
        self.tenant_header = tenant_header

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not self.sensor.enabled:
            return self.app(environ, start_response)
        start = time.perf_counter()
        state: Dict[str, Any] = {"status": None, "template": None}

        def start_response_wrapper(status: str, headers: Any, exc_info: Any = None) -> Any:
            try:
                state["status"] = int(str(status).split(None, 1)[0])
            except (ValueError, IndexError):
                state["status"] = None
            try:
                # Flask drops environ["werkzeug.request"] when its request context ends, which
                # is before the server closes the response: look while the response starts.
                state["template"] = wsgi_template(environ) or state["template"]
            except Exception:  # noqa: BLE001
                pass
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        try:
            result = self.app(environ, start_response_wrapper)
        except BaseException:
            self._report(environ, start, None, state["template"], failed=True)
            raise
        return _Response(result, self, environ, start, state)

    def _report(
        self,
        environ: Environ,
        start: float,
        status: Optional[int],
        seen_template: Optional[str],
        failed: bool,
    ) -> None:
        try:
            if failed or status is None:
                status = 500
            self.sensor.record(
                self._endpoint(environ, seen_template),
                status,
                (time.perf_counter() - start) * 1000.0,
                tenant_id=self._tenant(environ),
                method=environ.get("REQUEST_METHOD"),
            )
        except Exception:  # noqa: BLE001 - never fail the request
            self.sensor._count_error("the WSGI middleware could not report a request")

    def _tenant(self, environ: Environ) -> Optional[str]:
        if self.tenant is None:
            return header_tenant(environ, self.tenant_header)
        try:
            value = self.tenant(environ)
        except Exception:  # noqa: BLE001
            self.sensor._count_error("the tenant callable raised; the request is reported without tenant")
            return None
        return None if value is None else (str(value) or None)

    def _endpoint(self, environ: Environ, seen_template: Optional[str]) -> str:
        if self.route is not None:
            try:
                template = clean_template(self.route(environ))
            except Exception:  # noqa: BLE001
                self.sensor._count_error("the route callable raised; the path is normalized instead")
                template = None
            if template:
                return template
        try:
            template = wsgi_template(environ) or seen_template
        except Exception:  # noqa: BLE001
            template = seen_template
        return template or normalize_path(_raw_path(environ))


class _Response:
    """Wraps the app's iterable to record the request when the server closes it."""

    def __init__(
        self,
        inner: Iterable[bytes],
        middleware: SentinelWSGIMiddleware,
        environ: Environ,
        start: float,
        state: Dict[str, Any],
    ) -> None:
        self._inner = inner
        self._iter: Optional[Iterator[bytes]] = None
        self._mw = middleware
        self._environ = environ
        self._start = start
        self._state = state
        self._finished = False  # the body was iterated to its end
        self._failed = False  # an exception escaped before that
        self._reported = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._iter is None:
            self._iter = iter(self._inner)
        try:
            return next(self._iter)
        except StopIteration:
            self._finished = True
            raise
        except BaseException:
            self._failed = True
            raise

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException:
                    if not self._finished:
                        self._failed = True
                    raise
        finally:
            if not self._reported:
                self._reported = True
                self._mw._report(
                    self._environ,
                    self._start,
                    self._state["status"],
                    self._state["template"],
                    self._failed,
                )
