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
from typing import Any, Mapping, Optional

MAX_ENDPOINT_CHARS = 200
ID = "{id}"

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
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


def _starlette_mount_type() -> Any:
    routing = sys.modules.get("starlette.routing")
    return getattr(routing, "Mount", None) if routing is not None else None


def asgi_template(scope: Mapping[str, Any], root_path_before: str) -> Optional[str]:
    """The route template an ASGI framework left in ``scope`` after handling the request.

    ``scope["route"]`` may be a string (any framework may set one) or an object with a ``path``
    (Starlette and FastAPI set the matched route; a convertor is left out: ``{item_id:int}`` is
    reported as ``{item_id}``). Starlette routes inside a ``Mount`` are
    relative to the mount: the mount's part of the path (what it appended to ``root_path``) is
    put back in front, with path parameters that belong to the mount shown as ``{name}`` and
    other identifier segments as ``{id}``.
    """
    route = scope.get("route")
    if route is None:
        return None
    if isinstance(route, str):
        return clean_template(route)
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    # Starlette's convertors are not part of the name: "{item_id:int}" is "{item_id}".
    template = _CONVERTOR.sub(r"{\1}", template)
    root_path = scope.get("root_path") or ""
    mounted = ""
    if root_path != root_path_before and root_path.startswith(root_path_before):
        mounted = root_path[len(root_path_before):]
    mount_type = _starlette_mount_type()
    if mount_type is not None and isinstance(route, mount_type):
        # A Mount around an app that is not a router: its own path is the template, and the rest
        # of the path is normalized.
        path = scope.get("path") or ""
        rest = path[len(root_path):] if root_path and path.startswith(root_path) else ""
        prefix = _mount_prefix(mounted, scope, "") if mounted else template
        return clean_template(prefix + (normalize_path(rest) if rest not in ("", "/") else rest))
    if mounted:
        template = _mount_prefix(mounted, scope, template) + template
    return clean_template(template)


def _mount_prefix(raw: str, scope: Mapping[str, Any], leaf_template: str) -> str:
    """The raw path a mount matched, with its path parameters as ``{name}``."""
    if not raw:
        return ""
    params = scope.get("path_params") or {}
    by_value = {}
    for name, value in params.items():
        if "{" + name not in leaf_template:
            by_value.setdefault(str(value), name)
    parts = []
    for seg in raw.split("/"):
        if seg in by_value:
            parts.append("{" + by_value[seg] + "}")
        elif is_id_segment(seg):
            parts.append(ID)
        else:
            parts.append(seg)
    return "/".join(parts).rstrip("/")
