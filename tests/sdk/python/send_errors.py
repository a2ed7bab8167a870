"""Sends a known mix of errors and messages to Sentinel with the official sentry-python SDK.

Driven by crates/sentinel/tests/sdk_compat.rs; run it with PYTHONPATH pointing at an SDK installed
by scripts/test (.sdk/python or .sdk/python-nobrotli):

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 python3 send_errors.py --expect-compression br

What it sends (the test asserts the resulting issues):
  * 3 x ZeroDivisionError raised on the same line of divide(), tenants acme, acme, globex
  * 1 x KeyError: 'sku-42' raised in lookup(), tenant acme
  * 2 x warning messages "Order <n> failed for user <n>" with different numbers, tenants acme, initech
all with environment "sdk-compat" and release "shop@1.2.3"; then one transaction with a child span
(tracing on, so the SDK sends a `transaction` item too).

Afterwards it prints one line "SENTINEL_SUMMARY {json}" on stdout with what the SDK itself
recorded: every HTTP request (Content-Encoding, status, rate-limit header), every lost event
(`Transport.record_lost_event`, the single funnel the SDK uses for client-report outcomes: queue
overflow, rate-limit backoff, network and send errors, sampling and before_send drops) and SDK
error logs. It exits 1 if anything was lost, refused or left unsent.
"""

import argparse
import json
import logging
import os
import sys

import sentry_sdk

ENVIRONMENT = "sdk-compat"
RELEASE = "shop@1.2.3"


class Recorder:
    """Hooks one transport instance and the SDK logger; collects what went over the wire."""

    def __init__(self):
        self.envelopes_submitted = []  # item types of each envelope handed to the transport
        self.requests = []  # one entry per HTTP request
        self.lost = []  # record_lost_event calls
        self.sdk_errors = []  # ERROR records of the sdk's logger
        self.events_sent = []  # event ids that passed before_send

    def before_send(self, event, hint):
        self.events_sent.append(event.get("event_id"))
        return event

    def install(self, transport):
        capture_envelope = transport.capture_envelope
        request = transport._request
        record_lost_event = transport.record_lost_event

        def capture_envelope_hook(envelope):
            self.envelopes_submitted.append([item.type for item in envelope.items])
            return capture_envelope(envelope)

        def request_hook(method, endpoint_type, body, headers):
            entry = {
                "content_encoding": headers.get("Content-Encoding"),
                "bytes": len(body),
            }
            self.requests.append(entry)
            try:
                response = request(method, endpoint_type, body, headers)
            except Exception as e:
                entry["error"] = repr(e)
                raise
            entry["status"] = response.status
            entry["rate_limits"] = response.headers.get("x-sentry-rate-limits")
            if not 200 <= response.status < 300:
                entry["body"] = (response.data or b"").decode("utf-8", "replace")[:1000]
            return response

        def record_lost_event_hook(reason, data_category=None, item=None, *, quantity=1):
            category = item.data_category if item is not None else data_category
            self.lost.append({"reason": reason, "category": category, "quantity": quantity})
            return record_lost_event(reason, data_category, item, quantity=quantity)

        transport.capture_envelope = capture_envelope_hook
        transport._request = request_hook
        transport.record_lost_event = record_lost_event_hook

        recorder = self

        class ErrorLog(logging.Handler):
            def emit(self, record):
                recorder.sdk_errors.append(record.getMessage())

        # The SDK logger only lets records through with debug=True (its _DebugFilter).
        logging.getLogger("sentry_sdk.errors").addHandler(ErrorLog(level=logging.ERROR))

    def problems(self, expect_compression):
        problems = []
        if self.lost:
            problems.append(f"the SDK recorded lost events: {self.lost}")
        if self.sdk_errors:
            problems.append(f"the SDK logged errors: {self.sdk_errors}")
        for r in self.requests:
            if "error" in r:
                problems.append(f"request failed: {r}")
            elif not 200 <= r["status"] < 300:
                problems.append(f"server answered {r['status']}: {r}")
            if r.get("rate_limits"):
                problems.append(f"server sent X-Sentry-Rate-Limits: {r}")
            if r.get("content_encoding") != expect_compression:
                problems.append(f"expected Content-Encoding {expect_compression}: {r}")
        if len(self.requests) != len(self.envelopes_submitted):
            problems.append(
                f"{len(self.envelopes_submitted)} envelopes submitted but {len(self.requests)} "
                "requests made: the flush did not finish"
            )
        return problems


def divide(a, b):
    return a / b


def lookup(table, key):
    return table[key]


def capture_with_tenant(tenant, capture):
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("tenant_id", tenant)
        capture()


def send_everything():
    for tenant in ["acme", "acme", "globex"]:
        try:
            divide(1, 0)
        except ZeroDivisionError:
            capture_with_tenant(tenant, sentry_sdk.capture_exception)

    try:
        lookup({"sku-1": 3}, "sku-42")
    except KeyError:
        capture_with_tenant("acme", sentry_sdk.capture_exception)

    for tenant, order, user in [("acme", 1234, 77), ("initech", 5678, 91)]:
        message = f"Order {order} failed for user {user}"
        capture_with_tenant(tenant, lambda: sentry_sdk.capture_message(message, level="warning"))

    with sentry_sdk.start_transaction(op="task", name="nightly-report"):
        with sentry_sdk.start_span(op="db", name="load orders"):
            sum(range(1000))


def check_compression_module(expect):
    try:
        import brotli  # noqa: F401

        available = True
    except ImportError:
        available = False
    if expect == "gzip" and available:
        sys.exit("brotli is importable, so the SDK would not use gzip: run with .sdk/python-nobrotli")
    if expect == "br" and not available:
        sys.exit("brotli is not importable, so the SDK would not use br: run with .sdk/python")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--expect-compression", choices=["br", "gzip"], required=True)
    args = parser.parse_args()
    check_compression_module(args.expect_compression)

    recorder = Recorder()
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        environment=ENVIRONMENT,
        release=RELEASE,
        before_send=recorder.before_send,
        traces_sample_rate=1.0,
        # Puts the SDK's own log on stderr, which the test shows when it fails.
        debug=True,
    )
    client = sentry_sdk.get_client()
    recorder.install(client.transport)

    send_everything()
    client.flush(timeout=15)

    problems = recorder.problems(args.expect_compression)
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
