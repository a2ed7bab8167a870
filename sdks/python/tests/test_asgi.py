"""The ASGI middleware around a real Starlette app and plain ASGI apps, reporting to a real receiver."""

import asyncio
import time

import pytest
from helpers import call_asgi, call_asgi_async, http_scope

from sentinel_sensor import SentinelASGIMiddleware

starlette = pytest.importorskip("starlette")
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402


class Boom(Exception):
    pass


async def item(request):
    item_id = request.path_params["item_id"]
    return JSONResponse({"id": item_id}, status_code=503 if item_id == 13 else 200)


async def user(request):
    return PlainTextResponse("u")


async def explode(request):
    raise Boom("endpoint failed")


def starlette_app():
    static = PlainTextResponse("static")  # a plain ASGI app mounted without a router
    return Starlette(
        routes=[
            Route("/v1/items/{item_id:int}", item),
            Route("/explode", explode),
            Mount("/orgs/{org}", routes=[Route("/users/{user_id}", user)]),
            Mount("/static", app=static),
        ]
    )


def test_starlette_route_templates_are_reported(receiver, sensors):
    sensor = sensors(receiver.dsn())
    app = SentinelASGIMiddleware(starlette_app(), sensor=sensor)
    assert call_asgi(app, "GET", "/v1/items/7?x=1").status == 200
    assert call_asgi(app, "GET", "/v1/items/13").status == 503
    assert call_asgi(app, "POST", "/v1/items/8").status == 405
    assert call_asgi(app, "GET", "/orgs/acme/users/42").status == 200
    assert call_asgi(app, "GET", "/static/css/0123456789abcdef0123/x.css").status == 200
    assert call_asgi(app, "GET", "/nope/123").status == 404
    assert sensor.flush(3)
    got = [(r["method"], r["endpoint"], r["status_code"]) for r in receiver.records]
    assert got == [
        ("GET", "/v1/items/{item_id}", 200),
        ("GET", "/v1/items/{item_id}", 503),
        ("POST", "/v1/items/{item_id}", 405),
        ("GET", "/orgs/{org}/users/{user_id}", 200),
        ("GET", "/static/css/{id}/x.css", 200),
        ("GET", "/nope/{id}", 404),
    ]
    assert sensor.stats()["sent"] == 6


def test_an_endpoint_exception_counts_as_500_and_propagates(receiver, sensors):
    sensor = sensors(receiver.dsn())
    app = SentinelASGIMiddleware(starlette_app(), sensor=sensor)
    result = call_asgi(app, "GET", "/explode")
    # Starlette's ServerErrorMiddleware answers 500 and re-raises: the exception comes out intact.
    assert isinstance(result.exception, Boom)
    assert str(result.exception) == "endpoint failed"
    assert result.status == 500
    assert sensor.flush(3)
    [r] = receiver.records
    assert (r["endpoint"], r["status_code"]) == ("/explode", 500)


def test_a_plain_app_raising_before_responding_counts_as_500(receiver, sensors):
    error = Boom("no response at all")

    async def app(scope, receive, send):
        raise error

    async def half(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise Boom("mid-stream")

    sensor = sensors(receiver.dsn())
    result = call_asgi(SentinelASGIMiddleware(app, sensor=sensor), "GET", "/v1/things/5")
    assert result.exception is error
    result = call_asgi(SentinelASGIMiddleware(half, sensor=sensor), "GET", "/stream")
    assert isinstance(result.exception, Boom) and result.status == 200
    assert sensor.flush(3)
    assert [(r["endpoint"], r["status_code"]) for r in receiver.records] == [
        ("/v1/things/{id}", 500),
        ("/stream", 500),
    ]


def test_tenant_from_the_header_and_from_a_callable(receiver, sensors):
    sensor = sensors(receiver.dsn())
    by_header = SentinelASGIMiddleware(starlette_app(), sensor=sensor)
    call_asgi(by_header, "GET", "/v1/items/1", headers=[("X-Tenant-ID", "acme")])
    call_asgi(by_header, "GET", "/v1/items/2")
    call_asgi(by_header, "GET", "/v1/items/3", headers=[("x-tenant-id", "  ")])

    def from_subdomain(scope):
        for k, v in scope["headers"]:
            if k == b"host":
                return v.decode().split(".")[0]
        return None

    by_callable = SentinelASGIMiddleware(starlette_app(), sensor=sensor, tenant=from_subdomain)
    call_asgi(by_callable, "GET", "/v1/items/4", headers=[("Host", "beta.example.com")])
    call_asgi(by_callable, "GET", "/v1/items/5")

    def broken(scope):
        raise RuntimeError("tenant lookup failed")

    failing = SentinelASGIMiddleware(starlette_app(), sensor=sensor, tenant=broken)
    assert call_asgi(failing, "GET", "/v1/items/6").status == 200

    by_other_header = SentinelASGIMiddleware(starlette_app(), sensor=sensor, tenant_header="X-Org")
    call_asgi(by_other_header, "GET", "/v1/items/7", headers=[("X-Org", "gamma")])
    assert sensor.flush(3)
    assert [r["tenant_id"] for r in receiver.records] == ["acme", None, None, "beta", None, None, "gamma"]
    assert sensor.stats()["errors"] == 1


def test_route_callable_and_string_routes_and_the_fallback(receiver, sensors):
    async def plain(scope, receive, send):
        if scope["path"].startswith("/named/"):
            scope["route"] = "/named/{name}"  # any framework may leave a string
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sensor = sensors(receiver.dsn())
    app = SentinelASGIMiddleware(plain, sensor=sensor)
    call_asgi(app, "GET", "/named/bob")
    call_asgi(app, "GET", "/orders/550e8400-e29b-41d4-a716-446655440000/lines/3")
    # The server's root_path is not part of the template.
    call_asgi(app, "GET", "/orders/9", root_path="/api")
    custom = SentinelASGIMiddleware(
        plain, sensor=sensor, route=lambda scope: "/custom" if "custom" in scope["path"] else None
    )
    call_asgi(custom, "GET", "/custom/1")
    call_asgi(custom, "GET", "/other/1")
    assert sensor.flush(3)
    assert [r["endpoint"] for r in receiver.records] == [
        "/named/{name}",
        "/orders/{id}/lines/{id}",
        "/orders/{id}",
        "/custom",
        "/other/{id}",
    ]


def test_latency_lasts_until_the_last_body_chunk(receiver, sensors):
    async def chunks():
        for _ in range(3):
            await asyncio.sleep(0.05)
            yield b"x"

    async def stream(request):
        return StreamingResponse(chunks())

    app = Starlette(routes=[Route("/stream", stream)])
    sensor = sensors(receiver.dsn())
    mw = SentinelASGIMiddleware(app, sensor=sensor)
    result = call_asgi(mw, "GET", "/stream")
    assert result.body == b"xxx"
    assert sensor.flush(3)
    [r] = receiver.records
    assert r["latency_ms"] >= 140
    assert r["latency_ms"] < 2000


def test_requests_stay_fast_and_succeed_when_the_receiver_is_down(down_dsn, sensors):
    sensor = sensors(down_dsn, max_queue=50, timeout=0.5)
    app = SentinelASGIMiddleware(starlette_app(), sensor=sensor)

    async def many():
        out = []
        for i in range(200):
            out.append(await call_asgi_async(app, http_scope("GET", f"/v1/items/{i}")))
        return out

    started = time.perf_counter()
    results = asyncio.run(many())
    elapsed = time.perf_counter() - started
    assert all(r.status in (200, 503) and r.exception is None for r in results)
    assert elapsed < 3, elapsed
    stats = sensor.stats()
    assert stats["dropped"] == 150
    assert stats["queued"] == 50


def test_non_http_scopes_pass_through(receiver, sensors):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    sensor = sensors(receiver.dsn())
    mw = SentinelASGIMiddleware(app, sensor=sensor)
    asyncio.run(mw({"type": "lifespan"}, None, None))
    asyncio.run(mw({"type": "websocket", "path": "/ws", "headers": []}, None, None))
    assert seen == ["lifespan", "websocket"]
    assert sensor.flush(1)
    assert receiver.posts == []


def test_templates_without_scope_route_as_starlette_before_1_0(receiver, sensors):
    """Starlette < 1.0 leaves no scope["route"]: the router is matched again."""
    inner = starlette_app()

    async def without_route(scope, receive, send):
        await inner(scope, receive, send)
        scope.pop("route", None)

    sensor = sensors(receiver.dsn())
    app = SentinelASGIMiddleware(without_route, sensor=sensor)
    call_asgi(app, "GET", "/v1/items/7")
    call_asgi(app, "POST", "/v1/items/8")
    call_asgi(app, "GET", "/orgs/acme/users/42")
    call_asgi(app, "GET", "/static/css/0123456789abcdef0123/x.css")
    call_asgi(app, "GET", "/nope/123")
    call_asgi(app, "GET", "/v1/items/9", root_path="/prefix")
    assert sensor.flush(3)
    assert [r["endpoint"] for r in receiver.records] == [
        "/v1/items/{item_id}",
        "/v1/items/{item_id}",
        "/orgs/{org}/users/{user_id}",
        "/static/css/{id}/x.css",
        "/nope/{id}",
        "/v1/items/{item_id}",
    ]


def test_django_asgi_routes_reach_the_middleware(receiver, sensors):
    pytest.importorskip("django")
    from helpers import django_setup

    django_setup()
    from django.core.asgi import get_asgi_application

    sensor = sensors(receiver.dsn())
    app = SentinelASGIMiddleware(get_asgi_application(), sensor=sensor)
    assert call_asgi(app, "GET", "/v1/items/7", headers=[("X-Tenant-ID", "acme")]).status == 200
    assert call_asgi(app, "GET", "/v1/items/27").status == 500
    assert call_asgi(app, "GET", "/api/legacy/12/").status == 200
    assert call_asgi(app, "GET", "/unknown/99").status == 404
    assert sensor.flush(3)
    assert [(r["tenant_id"], r["endpoint"], r["status_code"]) for r in receiver.records] == [
        ("acme", "/v1/items/{item_id}", 200),
        (None, "/v1/items/{item_id}", 500),
        (None, "/api/legacy/{pk}/", 200),
        (None, "/unknown/{id}", 404),
    ]
