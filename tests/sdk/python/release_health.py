"""Sends release-health sessions to Sentinel with the official sentry-python SDK.

Driven by crates/sentinel/tests/sdk_compat.rs; run it with PYTHONPATH pointing at the SDK installed
by scripts/test (.sdk/python):

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 python3 release_health.py

What it sends, all with release "shop@2.0.0" (the test asserts the release's numbers):
  * 5 requests through the SDK's own WSGI middleware, which tracks one request-mode session per
    request and sends them as a `sessions` aggregate: 3 fine, 1 that captures a handled KeyError
    (errored), 1 that raises ZeroDivisionError (crashed, and an error event);
  * 1 application-mode session of user "u-1" that ends normally: a `session` item with `init`.

The SDK only sends sessions when its session flusher runs; `client.flush()` runs it. Prints the
same "SENTINEL_SUMMARY {json}" line as send_errors.py and exits 1 if anything was lost.
"""

import json
import os
import sys

import sentry_sdk
from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

from send_errors import Recorder

RELEASE = "shop@2.0.0"


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/crash":
        return [str(1 / 0).encode()]
    if path == "/handled":
        try:
            {}["sku-42"]
        except KeyError:
            sentry_sdk.capture_exception()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def request(wsgi, path):
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SERVER_NAME": "shop.example",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
    }
    try:
        body = wsgi(environ, lambda status, headers: None)
        b"".join(body)
    except ZeroDivisionError:
        pass


def main():
    recorder = Recorder()
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment="sdk-compat",
        release=RELEASE,
        before_send=recorder.before_send,
        debug=True,
    )
    client = sentry_sdk.get_client()
    recorder.install(client.transport)

    wsgi = SentryWsgiMiddleware(app)
    for path in ["/", "/", "/", "/handled", "/crash"]:
        request(wsgi, path)

    scope = sentry_sdk.get_isolation_scope()
    scope.set_user({"id": "u-1"})
    scope.start_session(session_mode="application")
    scope.end_session()

    client.flush(timeout=15)

    problems = recorder.problems("br")
    summary = {
        "sdk": sentry_sdk.VERSION,
        "events_sent": len(recorder.events_sent),
        "envelopes_submitted": recorder.envelopes_submitted,
        "requests": recorder.requests,
        "lost": recorder.lost,
        "problems": problems,
    }
    print("SENTINEL_SUMMARY " + json.dumps(summary), flush=True)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
