"""Route templates: what a request's ``endpoint`` is reported as.

Sentinel ranks tenants per endpoint, so the endpoint must be the *route template*
(``/v1/items/{item_id}``), never the raw path (``/v1/items/17``), or every id becomes its own
endpoint. The middleware asks, in order:

1. the ``route=`` callable given to the middleware;
2. the framework (ASGI: ``scope["route"]``; WSGI: ``environ["sentinel.route"]``, Flask's url rule);
3. :func:`normalize_path` on the raw path.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Dict, Mapping, Optional

MAX_ENDPOINT_CHARS = 200
ID = "{id}"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{16,}$")
_MIXED_PART = re.compile(r"[A-Za-z][0-9]|[0-9][A-Za-z]")


def is_id_segment(segment: str) -> bool:
    """Whether one path segment looks like an identifier (see :func:`normalize_path`)."""
    if not segment:
        return False
    if segment.isascii() and segment.isdigit():
        return True
    if _UUID.match(segment) or _HEX.match(segment):
        return True
    if _TOKEN.match(segment):
        digits = sum(c.isdigit() for c in segment)
        if digits >= 2 and any(c.isalpha() for c in segment):
            # A slug ("release-2024-01-15", "hello-world-42") has parts that are all letters or
            # all digits; a token has at least one part mixing both ("cus_9s6XKzkNRiz8i3").
            return any(_MIXED_PART.search(part) for part in re.split(r"[_\-]", segment))
    return False


def normalize_path(path: str) -> str:
    """Turns a raw path into a template by replacing identifier segments with ``{id}``.

    - the query string and fragment (anything from ``?`` or ``#``) are dropped;
    - each ``/``-separated segment is replaced by ``{id}`` when it is
      - all digits (``17``, ``000123``),
      - a UUID (``550e8400-e29b-41d4-a716-446655440000``, any case),
      - hexadecimal of 16 characters or more (``507f1f77bcf86cd799439011``, hashes),
      - a long mixed token: 16 characters or more of letters, digits, ``_`` and ``-``, with at
        least two digits and one letter, and at least one ``_``/``-``-separated part where letters
        and digits meet (ULIDs, nanoids, ``cus_9s6XKzkNRiz8i3``); slugs whose parts are only
        letters or only digits (``release-2024-01-15``) are kept;
    - every other segment, empty segments and a trailing slash are kept as they are;
    - an empty path becomes ``/``; the result is cut to 200 characters.

    ``/v1/items/17?x=1`` → ``/v1/items/{id}``.
    """
    if not isinstance(path, str):
        path = str(path)
    path = re.split(r"[?#]", path, maxsplit=1)[0]
    if not path:
        return "/"
    out = "/".join(ID if is_id_segment(s) else s for s in path.split("/"))
    if not out.startswith("/"):
        out = "/" + out
    return out[:MAX_ENDPOINT_CHARS]


_CONVERTOR = re.compile(r"\{([^{}:]+):[^{}]*\}")
_ANGLE_PARAM = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


def angle_to_braces(rule: str) -> str:
    """Werkzeug/Flask and Django ``path()`` rules: ``/items/<int:item_id>`` → ``/items/{item_id}``."""
    return _ANGLE_PARAM.sub(lambda m: "{" + m.group(1) + "}", rule)


def regex_to_template(pattern: str) -> str:
    """Best effort for Django ``re_path`` routes: ``^items/(?P<pk>[0-9]+)/$`` → ``items/{pk}/``.

    Named groups become ``{name}``, other groups ``{id}``; anchors are removed.
    """
    p = pattern
    out = []
    i = 0
    while i < len(p):
        c = p[i]
        if c == "\\" and i + 1 < len(p):
            out.append(p[i + 1])
            i += 2
            continue
        if c == "(":
            depth, j = 0, i
            while j < len(p):
                if p[j] == "\\":
                    j += 2
                    continue
                if p[j] == "(":
                    depth += 1
                elif p[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            m = re.match(r"\(\?P<([^>]+)>", p[i:])
            out.append("{" + m.group(1) + "}" if m else ID)
            i = j + 1
            continue
        if c in "?*+^$":
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def clean_template(template: Any) -> Optional[str]:
    """A framework-provided template as reported: leading ``/``, at most 200 characters."""
    if template is None:
        return None
    if not isinstance(template, str):
        template = str(template)
    template = template.strip()
    if not template:
        return None
    if not template.startswith("/"):
        template = "/" + template
    return template[:MAX_ENDPOINT_CHARS]


def _starlette_routing() -> Any:
    """``starlette.routing`` if the application imported it (it is never imported here)."""
    return sys.modules.get("starlette.routing")


def asgi_template(scope: Mapping[str, Any], root_path_before: str) -> Optional[str]:
    """The route template an ASGI framework left in ``scope`` after handling the request.

    - ``scope["route"]`` as a string: any framework may leave one; used as it is.
    - ``scope["route"]`` as an object with a ``path``: Starlette ≥ 1.0 and FastAPI leave the
      matched route. Its convertor is left out (``{item_id:int}`` → ``{item_id}``).
    - Routes inside a Starlette ``Mount`` are relative to the mount, and Starlette < 1.0 leaves no
      ``scope["route"]`` at all: then the request is matched again against the app's router
      (``scope["router"]``, what Starlette itself does to route it) to join the mounts' and the
      route's templates: ``Mount("/orgs/{org}", routes=[Route("/users/{user_id}")])`` →
      ``/orgs/{org}/users/{user_id}``. A mounted app that is not a router contributes the mount's
      template followed by the normalized rest of the path.
    """
    route = scope.get("route")
    if isinstance(route, str):
        return clean_template(route)
    template = getattr(route, "path", None) if route is not None else None
    if route is not None and not isinstance(template, str):
        return None
    root_path = scope.get("root_path") or ""
    mounted = root_path != root_path_before
    if template is None or mounted:
        routing = _starlette_routing()
        if routing is not None and scope.get("router") is not None:
            try:
                found = _rematch(scope, root_path_before, routing)
            except Exception:  # noqa: BLE001 - Starlette internals changed: fall back
                found = None
            if found:
                return clean_template(found)
    if template is None:
        return None
    return clean_template(_CONVERTOR.sub(r"{\1}", template))


def _rematch(scope: Mapping[str, Any], root_path_before: str, routing: Any) -> Optional[str]:
    probe = dict(scope)
    probe["root_path"] = root_path_before
    probe["path_params"] = {}
    for key in ("route", "endpoint", "app_root_path"):
        probe.pop(key, None)
    return _match_routes(getattr(scope["router"], "routes", None), probe, "", routing, 0)


def _match_routes(routes: Any, scope: Dict[str, Any], prefix: str, routing: Any, depth: int) -> Optional[str]:
    if not routes or depth > 8:
        return None
    partial = None
    for route in routes:
        match, child = route.matches(scope)
        if match == routing.Match.FULL:
            return _resolve(route, scope, child, prefix, routing, depth)
        if match == routing.Match.PARTIAL and partial is None:
            partial = (route, child)
    if partial is not None:
        return _resolve(partial[0], scope, partial[1], prefix, routing, depth)
    return None


def _resolve(
    route: Any, scope: Dict[str, Any], child: Dict[str, Any], prefix: str, routing: Any, depth: int
) -> Optional[str]:
    path = getattr(route, "path", None)
    own = _CONVERTOR.sub(r"{\1}", path) if isinstance(path, str) else ""
    sub_routes = getattr(route, "routes", None)
    if isinstance(route, (routing.Mount, getattr(routing, "Host", ()))):
        inner_scope = dict(scope)
        inner_scope.update(child)
        if sub_routes:
            inner = _match_routes(sub_routes, inner_scope, prefix + own, routing, depth + 1)
            if inner:
                return inner
        if isinstance(route, routing.Mount):
            # A mounted app that is not a router: the rest of the path is normalized.
            if "path" in child:  # old Starlette rewrote the path
                rest = child["path"]
            else:
                full = scope.get("path") or ""
                root = child.get("root_path") or ""
                rest = full[len(root) :] if full.startswith(root) else ""
            rest = normalize_path(rest) if rest not in ("", "/") else rest
            return prefix + own + rest
        return None
    return prefix + own
