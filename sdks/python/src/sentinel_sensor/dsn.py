"""DSN parsing: ``{scheme}://{public_key}[:{secret}]@{host}[:{port}]{/optional/prefix}/{project_id}``.

The rules match Sentinel's own parser (``sentinel_protocol::auth::dsn_key_and_project``): a
scheme, a non-empty key of letters, digits, ``_`` or ``-``, a host (a name or a bracketed IPv6
address), a numeric port if one is given, and a numeric project id as the last path segment. A
query, a fragment and a trailing slash are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


@dataclass(frozen=True)
class Dsn:
    scheme: str
    public_key: str
    host: str
    """Host and port as written (``example.com:9000``, ``[::1]:8000``)."""
    prefix: str
    """Path before the project id, without a trailing slash (``""`` or ``/sentry``)."""
    project_id: int

    @property
    def requests_url(self) -> str:
        """The batch endpoint for request events."""
        return f"{self.scheme}://{self.host}{self.prefix}/api/{self.project_id}/requests/"


def parse_dsn(dsn: str) -> Dsn:
    """Parses a DSN; raises ``ValueError`` (without echoing the key) when it is malformed."""
    if not isinstance(dsn, str):
        raise ValueError("the DSN must be a string")
    text = dsn.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or not _SCHEME.match(scheme):
        raise ValueError("malformed DSN: expected scheme://PUBLIC_KEY@host[:port]/PROJECT_ID")
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    authority, slash, path = rest.partition("/")
    if not slash:
        raise ValueError("malformed DSN: no project id")
    userinfo, at, host_port = authority.rpartition("@")
    if not at:
        raise ValueError("malformed DSN: no public key (expected PUBLIC_KEY@host)")
    public_key = userinfo.split(":", 1)[0]
    if not _KEY.match(public_key):
        raise ValueError("malformed DSN: the public key must be letters, digits, '_' or '-'")
    if not _host_port_ok(host_port):
        raise ValueError("malformed DSN: bad host or port")
    segments = path.rstrip("/").split("/")
    project = segments[-1]
    if not project.isdigit() or not project.isascii() or int(project) >= 2**64:
        raise ValueError("malformed DSN: the project id (last path segment) must be a number")
    prefix = "/".join(segments[:-1])
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    return Dsn(scheme.lower(), public_key, host_port, prefix, int(project))


def _host_port_ok(host_port: str) -> bool:
    if host_port.startswith("["):
        host, close, tail = host_port[1:].partition("]")
        if not close:
            return False
        if tail == "":
            port = None
        elif tail.startswith(":"):
            port = tail[1:]
        else:
            return False
    else:
        host, colon, port_text = host_port.partition(":")
        port = port_text if colon else None
    if not host or any(c.isspace() or c in "/@[]" for c in host):
        return False
    if port is not None:
        if not (port.isdigit() and port.isascii()) or int(port) > 65535:
            return False
    return True
