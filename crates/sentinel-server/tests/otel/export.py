"""Sends a known set of spans to Sentinel through the real OpenTelemetry Python SDK and its OTLP/HTTP
exporters (crates/sentinel-server/tests/otlp_exporter.rs runs it; scripts/test installs the packages
into .sdk/python-otel).

    export.py --endpoint URL --key KEY --encoding protobuf|json --auth header|query --prefix P

Two tracer providers, as two services of one application would have:

- "shop-api", whose resource carries the tenant (tenant.id = P + "acme"):
  40 server spans GET /v1/orders/{id} (stable HTTP conventions): 28 answer 200 in 40 ms and 12
  answer 503 in 1200 ms, each with a client span (a 502 from a payment API) and an internal span
  under it that are not requests; 10 server spans POST /v1/process in 250 ms with the tenant as a
  span attribute (tenant.id = P + "beta", over the resource's) and the conventions before v1.21
  (http.method, http.status_code): 7 answer 500, 3 answer 200; and one server span with status
  code 999, which Sentinel refuses while keeping the rest of the export.
- "shop-edge", whose resource has no tenant: 5 server spans GET /health (200, no tenant), and 4
  GET /v1/users/{id} with the tenant in a `tenant_id` span attribute (P + "gamma"): 2 with status
  502, 2 with no status code and the span status ERROR (a 500).

The first provider exports through a BatchSpanProcessor, the second through a SimpleSpanProcessor;
the protobuf exporter gzips its bodies, and so does the JSON one. Prints one JSON line with what was
exported and exits non-zero when any export failed.
"""

import argparse
import json
import sys
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

MS = 1_000_000  # nanoseconds


class Recording(SpanExporter):
    """Passes spans to the real exporter and remembers each export's result: the processors only
    log a failed export, the test must see it."""

    def __init__(self, inner):
        self.inner = inner
        self.exported = 0
        self.failures = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result == SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30_000):
        return self.inner.force_flush(timeout_millis)


def exporter(args):
    headers = {}
    endpoint = args.endpoint
    if args.auth == "header":
        headers["X-Sentry-Auth"] = f"Sentry sentry_key={args.key}, sentry_client=otel-python"
    else:
        endpoint += f"?sentry_key={args.key}"
    if args.encoding == "protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, headers=headers, compression=Compression.Gzip, timeout=10)
    from opentelemetry.exporter.otlp.common.http import Compression
    from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, headers=headers, compression=Compression.GZIP, timeout=10)


def server_span(tracer, name, start, latency_ms, attributes, error=False):
    span = tracer.start_span(name, kind=SpanKind.SERVER, attributes=attributes, start_time=start)
    if error:
        span.set_status(Status(StatusCode.ERROR))
    return span, start + latency_ms * MS


def api_spans(tracer, prefix, now):
    sent = 0
    for i in range(40):
        failed = i >= 28
        start = now - 2_000 * MS + i * MS
        span, end = server_span(
            tracer,
            "GET /v1/orders/{id}",
            start,
            1200 if failed else 40,
            {
                "http.request.method": "GET",
                "http.route": "/v1/orders/{id}",
                "url.path": f"/v1/orders/{1000 + i}",
                "http.response.status_code": 503 if failed else 200,
            },
        )
        # What the handler did: a call to the payment API (a client span with an error of its own)
        # and some rendering. Neither is a request to this service.
        ctx = trace.set_span_in_context(span)
        client = tracer.start_span(
            "POST",
            context=ctx,
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "POST",
                "url.full": "https://payments.internal/v1/charge",
                "server.address": "payments.internal",
                "http.response.status_code": 502,
                "tenant.id": prefix + "client",
            },
            start_time=start + MS,
        )
        client.end(end_time=start + 5 * MS)
        internal = tracer.start_span("render order", context=ctx, kind=SpanKind.INTERNAL, start_time=start + 6 * MS)
        internal.end(end_time=start + 7 * MS)
        span.end(end_time=end)
        sent += 1
    for i in range(10):
        start = now - 1_000 * MS + i * MS
        span, end = server_span(
            tracer,
            "POST /v1/process",
            start,
            250,
            {
                "http.method": "POST",
                "http.route": "/v1/process",
                "http.status_code": 500 if i < 7 else 200,
                "tenant.id": prefix + "beta",
            },
        )
        span.end(end_time=end)
        sent += 1
    span, end = server_span(
        tracer,
        "GET /v1/orders/{id}",
        now - 500 * MS,
        10,
        {"http.request.method": "GET", "http.route": "/v1/orders/{id}", "http.response.status_code": 999},
    )
    span.end(end_time=end)
    return sent, 1


def edge_spans(tracer, prefix, now):
    sent = 0
    for i in range(5):
        start = now - 900 * MS + i * MS
        span, end = server_span(
            tracer,
            "GET /health",
            start,
            2,
            {"http.request.method": "GET", "http.route": "/health", "http.response.status_code": 200},
        )
        span.end(end_time=end)
        sent += 1
    for i in range(4):
        start = now - 800 * MS + i * MS
        attributes = {"http.request.method": "GET", "http.route": "/v1/users/{id}", "tenant_id": prefix + "gamma"}
        if i < 2:
            attributes["http.response.status_code"] = 502
        span, end = server_span(tracer, "GET /v1/users/{id}", start, 80, attributes, error=i >= 2)
        span.end(end_time=end)
        sent += 1
    return sent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True, help="http://host:port/api/PROJECT/integration/otlp/v1/traces")
    parser.add_argument("--key", required=True, help="the project's public key")
    parser.add_argument("--encoding", choices=["protobuf", "json"], default="protobuf")
    parser.add_argument("--auth", choices=["header", "query"], default="header")
    parser.add_argument("--prefix", default="", help="put before every tenant name")
    args = parser.parse_args()

    now = time.time_ns()
    api_export = Recording(exporter(args))
    api = TracerProvider(resource=Resource.create({"service.name": "shop-api", "tenant.id": args.prefix + "acme"}))
    api.add_span_processor(BatchSpanProcessor(api_export, max_export_batch_size=64))
    edge_export = Recording(exporter(args))
    edge = TracerProvider(resource=Resource.create({"service.name": "shop-edge"}))
    edge.add_span_processor(SimpleSpanProcessor(edge_export))

    api_server, refused = api_spans(api.get_tracer("shop.api"), args.prefix, now)
    edge_server = edge_spans(edge.get_tracer("shop.edge"), args.prefix, now)
    flushed = api.force_flush(30_000) and edge.force_flush(30_000)
    api.shutdown()
    edge.shutdown()

    report = {
        "encoding": args.encoding,
        "server_spans": api_server + edge_server,
        "refused_spans": refused,
        "exported_spans": api_export.exported + edge_export.exported,
        "failed_exports": api_export.failures + edge_export.failures,
        "flushed": flushed,
    }
    print(json.dumps(report))
    # Every span the providers made: 40 × 3 + 10 + 1 from the API, 9 from the edge.
    if not flushed or report["failed_exports"] or report["exported_spans"] != 40 * 3 + 10 + 1 + 9:
        sys.exit(1)


if __name__ == "__main__":
    main()
