"""The live script Sentinel's own integration test runs, here against the local receiver."""

import collections
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("live_app.py")


@pytest.mark.parametrize("mode, template", [("asgi", "/v1/items/{item_id}"), ("wsgi", "/v1/items/{id}")])
def test_the_live_script_sends_its_45_requests(receiver, mode, template):
    run = subprocess.run(
        [sys.executable, str(SCRIPT), mode],
        env={"SENTINEL_DSN": receiver.dsn(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == {"sent": 45, "dropped": 0, "rejected": 0, "template": template}

    records = receiver.records
    assert len(records) == 45
    seen = collections.Counter((r["tenant_id"], r["endpoint"], r["status_code"]) for r in records)
    assert seen == {
        ("acme", template, 500): 20,
        ("acme", template, 200): 10,
        ("beta", "/health", 200): 10,
        (None, "/health", 200): 5,
    }


def test_the_live_script_fails_when_nothing_arrives(down_dsn):
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "asgi"],
        env={"SENTINEL_DSN": down_dsn, "SENTINEL_LIVE_FLUSH_TIMEOUT": "0.5", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 1
    assert json.loads(run.stdout)["sent"] == 0


def test_the_live_script_wants_a_mode_and_a_dsn():
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "asgi"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2
