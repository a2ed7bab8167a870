"""Sends Sentry cron check-ins to Sentinel with the official sentry-python SDK.

Driven by crates/sentinel-server/tests/uptime_cron.rs; run it with PYTHONPATH pointing at the SDK
installed by scripts/test (.sdk/python):

    SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 python3 cron_check_ins.py ok|fail|start

  ok     runs a job under `@monitor` that succeeds (check-ins in_progress, then ok)
  fail   runs a job under `@monitor` that raises (in_progress, then error)
  start  only `capture_checkin(status=in_progress)`: a run that never finishes

Every check-in carries the monitor's config (hourly, 5 minutes margin, 10 minutes longest
runtime), so the first one creates the monitor. Exits 1 if the SDK dropped anything.
"""

import os
import sys

import sentry_sdk
from sentry_sdk.crons import capture_checkin, monitor

SLUG = "nightly-report"
CONFIG = {
    "schedule": {"type": "interval", "value": 1, "unit": "hour"},
    "checkin_margin": 5,
    "max_runtime": 10,
    "timezone": "UTC",
}

lost = []


class Recording(sentry_sdk.transport.HttpTransport):
    def record_lost_event(self, reason, data_category=None, item=None, *, quantity=1):
        lost.append((reason, data_category))
        super().record_lost_event(reason, data_category, item, quantity=quantity)


def main():
    mode = sys.argv[1]
    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        transport=Recording,
        environment="production",
        default_integrations=False,
    )

    @monitor(monitor_slug=SLUG, monitor_config=CONFIG)
    def job(fail):
        if fail:
            raise RuntimeError("disk full")

    if mode == "ok":
        job(False)
    elif mode == "fail":
        try:
            job(True)
        except RuntimeError:
            pass
    elif mode == "start":
        capture_checkin(monitor_slug=SLUG, status="in_progress", monitor_config=CONFIG)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    sentry_sdk.flush(timeout=10)
    if lost:
        print(f"lost: {lost}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
