"""The WSGI middleware behind a real wsgiref server (and Flask and Django apps), reporting to a real receiver."""

import io
import time
import wsgiref.util

import pytest
from helpers import django_setup, http_get, serve_wsgi

from sentinel_sensor import SentinelWSGIMiddleware


class Boom(Exception):
    pass


def plain_app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/fail"):
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"failed"]
    if path.startswith("/raise"):
        raise Boom("app failed")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def environ_for(path, headers=None):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO()}
    wsgiref.util.setup_testing_defaults(environ)
    for k, v in (headers or {}).items():
        environ["HTTP_" + k.upper().replace("-", "_")] = v
    return environ


def test_requests_through_a_real_server_are_reported(receiver, sensors):
    sensor = sensors(receiver.dsn())
    app = SentinelWSGIMiddleware(plain_app, sensor=sensor)
    with serve_wsgi(app) as base:
        assert http_get(base + "/v1/items/17?x=1", {"X-Tenant-ID": "acme"}) == (200, b"ok")
        assert http_get(base + "/fail/abcdef0123456789abcd")[0] == 500
        assert http_get(base + "/raise/3")[0] == 500  # wsgiref turns the exception into a 500
        assert http_get(base + "/health")[0] == 200
    assert sensor.flush(3)
    got = [(r["tenant_id"], r["method"], r["endpoint"], r["status_code"]) for r in receiver.records]
    assert got == [
        ("acme", "GET", "/v1/items/{id}", 200),
        (None, "GET", "/fail/{id}", 500),
        (None, "GET", "/raise/{id}", 500),
        (None, "GET", "/health", 200),
    ]


def test_an_exception_counts_as_500_and_propagates_unchanged(receiver, sensors):
    sensor = sensors(receiver.dsn())
    app = SentinelWSGIMiddleware(plain_app, sensor=sensor)
    with pytest.raises(Boom) as caught:
        app(environ_for("/raise/1"), lambda status, headers, exc_info=None: None)
    assert str(caught.value) == "app failed"

    def streaming(environ, start_response):
        start_response("200 OK", [])
        yield b"first"
        raise Boom("mid-stream")

    result = SentinelWSGIMiddleware(streaming, sensor=sensor)(environ_for("/s"), lambda *a: None)
    with pytest.raises(Boom):
        for _ in result:
            pass
    result.close()
    assert sensor.flush(3)
    assert [(r["endpoint"], r["status_code"]) for r in receiver.records] == [
        ("/raise/{id}", 500),
        ("/s", 500),
    ]


def test_latency_lasts_until_the_response_is_closed(receiver, sensors):
    def slow_body(environ, start_response):
        start_response("200 OK", [])
        for _ in range(3):
            time.sleep(0.05)
            yield b"x"

    sensor = sensors(receiver.dsn())
    with serve_wsgi(SentinelWSGIMiddleware(slow_body, sensor=sensor)) as base:
        assert http_get(base + "/slow") == (200, b"xxx")
    assert sensor.flush(3)
    [r] = receiver.records
    assert 140 <= r["latency_ms"] < 2000


def test_route_and_tenant_callables(receiver, sensors):
    sensor = sensors(receiver.dsn())
    app = SentinelWSGIMiddleware(
        plain_app,
        sensor=sensor,
        route=lambda environ: (
            "/v1/items/{item_id}" if environ["PATH_INFO"].startswith("/v1/items/") else None
        ),
        tenant=lambda environ: environ.get("HTTP_X_ORG"),
    )
    with serve_wsgi(app) as base:
        http_get(base + "/v1/items/5", {"X-Org": "beta", "X-Tenant-ID": "ignored"})
        http_get(base + "/other/5")
    assert sensor.flush(3)
    assert [(r["tenant_id"], r["endpoint"]) for r in receiver.records] == [
        ("beta", "/v1/items/{item_id}"),
        (None, "/other/{id}"),
    ]


def test_a_down_receiver_never_fails_or_slows_the_app(down_dsn, sensors):
    sensor = sensors(down_dsn, max_queue=10, timeout=0.5)
    app = SentinelWSGIMiddleware(plain_app, sensor=sensor)
    started = time.perf_counter()
    for i in range(100):
        body = app(environ_for(f"/v1/items/{i}"), lambda *a: None)
        assert list(body) == [b"ok"]
        body.close()
    assert time.perf_counter() - started < 1
    assert sensor.stats()["dropped"] == 90


def test_flask_url_rules_are_the_template(receiver, sensors):
    flask = pytest.importorskip("flask")
    app = flask.Flask("sensor_test")

    @app.route("/v1/items/<int:item_id>")
    def get_item(item_id):
        return {"id": item_id}, 500 if item_id > 20 else 200

    sensor = sensors(receiver.dsn())
    wrapped = SentinelWSGIMiddleware(app.wsgi_app, sensor=sensor)
    with serve_wsgi(wrapped) as base:
        assert http_get(base + "/v1/items/3")[0] == 200
        assert http_get(base + "/v1/items/30")[0] == 500
        assert http_get(base + "/missing/4")[0] == 404
    assert sensor.flush(3)
    assert [(r["endpoint"], r["status_code"]) for r in receiver.records] == [
        ("/v1/items/{item_id}", 200),
        ("/v1/items/{item_id}", 500),
        ("/missing/{id}", 404),
    ]


def test_django_routes_reach_the_wsgi_middleware(receiver, sensors):
    pytest.importorskip("django")
    django_setup()
    from django.core.wsgi import get_wsgi_application

    sensor = sensors(receiver.dsn())
    app = SentinelWSGIMiddleware(get_wsgi_application(), sensor=sensor)
    with serve_wsgi(app) as base:
        assert http_get(base + "/v1/items/7", {"X-Tenant-ID": "acme"})[0] == 200
        assert http_get(base + "/v1/items/27")[0] == 500
        assert http_get(base + "/api/legacy/12/")[0] == 200
        assert http_get(base + "/crash")[0] == 500
        assert http_get(base + "/unknown/99")[0] == 404
    assert sensor.flush(3)
    assert [(r["tenant_id"], r["endpoint"], r["status_code"]) for r in receiver.records] == [
        ("acme", "/v1/items/{item_id}", 200),
        (None, "/v1/items/{item_id}", 500),
        (None, "/api/legacy/{pk}/", 200),
        (None, "/crash", 500),
        (None, "/unknown/{id}", 404),
    ]
