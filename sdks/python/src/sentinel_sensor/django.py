"""Django: hand the matched URL pattern to the Sentinel middleware.

Django resolves the URL inside the application, after the WSGI/ASGI middleware has passed the
request on, and keeps the result on the ``HttpRequest``. But ``request.environ`` *is* the WSGI
environ (and, under ASGI, ``request.scope`` is the ASGI scope), so a one-line Django middleware
can leave the template where :class:`~sentinel_sensor.SentinelWSGIMiddleware` (the
``sentinel.route`` key) and :class:`~sentinel_sensor.SentinelASGIMiddleware` (``scope["route"]``)
read it once the response is done::

    MIDDLEWARE = [
        "sentinel_sensor.django.SentinelRouteMiddleware",
        ...,
    ]

``path("v1/items/<int:item_id>", ...)`` is reported as ``/v1/items/{item_id}``; a ``re_path``
regex as its best-effort template (``^items/(?P<pk>[0-9]+)/$`` → ``/items/{pk}/``). Requests that
match no pattern (404) fall back to the path normalizer.

This module does not import Django.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .routes import angle_to_braces, clean_template, regex_to_template
from .wsgi import ENVIRON_ROUTE_KEY


def route_of(request: Any) -> Optional[str]:
    """The route template of a Django request that has been resolved, else None."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    if not route:
        return None
    if "(?P<" in route or route.startswith("^") or route.endswith("$"):
        route = regex_to_template(route)
    return clean_template(angle_to_braces(route))


class SentinelRouteMiddleware:
    """Django middleware storing the matched route for the Sentinel WSGI/ASGI middleware."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        response = self.get_response(request)
        try:
            template = route_of(request)
            if template:
                environ = getattr(request, "environ", None)
                if isinstance(environ, dict):
                    environ[ENVIRON_ROUTE_KEY] = template
                scope = getattr(request, "scope", None)
                if isinstance(scope, dict):
                    scope["route"] = template
        except Exception:  # noqa: BLE001 - never fail the request
            pass
        return response
