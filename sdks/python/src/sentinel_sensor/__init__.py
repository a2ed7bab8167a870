"""Sentinel sensor: one request event per HTTP request, for Sentinel's per-tenant rankings.

    from sentinel_sensor import SentinelASGIMiddleware
    app = SentinelASGIMiddleware(app, dsn="https://KEY@sentinel.example.com/42")

Standard library only. See README.md for the options, what is dropped when, and the wire format.
"""

from .asgi import SentinelASGIMiddleware
from .dsn import Dsn, parse_dsn
from .routes import normalize_path
from .sensor import USER_AGENT, VERSION, Sensor
from .wsgi import SentinelWSGIMiddleware

__version__ = VERSION

__all__ = [
    "Dsn",
    "Sensor",
    "SentinelASGIMiddleware",
    "SentinelWSGIMiddleware",
    "USER_AGENT",
    "VERSION",
    "normalize_path",
    "parse_dsn",
    "__version__",
]
