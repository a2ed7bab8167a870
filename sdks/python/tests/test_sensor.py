"""The sensor against a real HTTP receiver: batching, gzip, auth, and each kind of answer."""

import json
import logging
import time

from conftest import KEY, PROJECT

from sentinel_sensor import USER_AGENT


def test_records_arrive_batched_gzipped_and_authenticated(receiver, sensors):
    sensor = sensors(receiver.dsn("/sentinel"), batch_size=50, flush_interval=30)
    for i in range(120):
        assert sensor.record(
            "/v1/items/{item_id}", 200 + (i % 2) * 303, 1.5 + i, tenant_id="acme", method="get"
        )
    # Two full batches go at once, without waiting for the 30 s interval.
    posts = receiver.wait_posts(2, timeout=3)
    assert [len(p.records) for p in posts[:2]] == [50, 50]
    assert sensor.flush(3)
    posts = receiver.posts
    assert [len(p.records) for p in posts] == [50, 50, 20]
    for p in posts:
        assert p.path == f"/sentinel/api/{PROJECT}/requests/"
        assert p.headers["X-Sentry-Auth"] == (
            f"Sentry sentry_key={KEY}, sentry_version=7, sentry_client={USER_AGENT}"
        )
        assert USER_AGENT == "sentinel-sensor-python/0.1.0"
        assert p.headers["Content-Type"] == "application/json"
        # 50 records are well over 1 KiB: compressed, and the receiver decoded them.
        assert p.headers["Content-Encoding"] == "gzip"
        assert len(p.raw) < len(p.body)
    records = receiver.records
    assert [r["latency_ms"] for r in records] == [1.5 + i for i in range(120)]
    first = records[1]
    assert first["tenant_id"] == "acme"
    assert first["endpoint"] == "/v1/items/{item_id}"
    assert first["method"] == "GET"
    assert first["status_code"] == 503
    assert abs(first["timestamp"] - time.time()) < 10
    assert sensor.stats() == {
        "sent": 120,
        "dropped": 0,
        "rejected": 0,
        "queued": 0,
        "errors": 0,
        "retries": 0,
    }


def test_a_small_batch_is_sent_plain_after_the_interval(receiver, sensors):
    sensor = sensors(receiver.dsn(), flush_interval=0.1)
    sensor.record("/health", 200, 0.25)
    posts = receiver.wait_posts(1, timeout=3)
    assert len(posts) == 1
    assert "Content-Encoding" not in posts[0].headers
    assert json.loads(posts[0].raw) == posts[0].records
    assert posts[0].records[0]["tenant_id"] is None


def test_values_are_made_valid_before_sending(receiver, sensors):
    sensor = sensors(receiver.dsn())
    sensor.record("/" + "e" * 300, 200, -3, tenant_id="t" * 300)
    sensor.record("/x", 200, 1, tenant_id="")
    sensor.record("/x", 200, float("inf"), method="not a method")
    assert not sensor.record("/x", 700, 1)
    assert not sensor.record("/x", 200, float("nan"))
    assert sensor.flush(3)
    r = receiver.records
    assert len(r[0]["endpoint"]) == 200 and len(r[0]["tenant_id"]) == 200
    assert r[0]["latency_ms"] == 0
    assert r[1]["tenant_id"] is None
    assert r[2]["latency_ms"] < 3_600_000 and r[2]["method"] == ""
    assert sensor.stats()["sent"] == 3
    assert sensor.stats()["rejected"] == 2


def test_503_with_retry_after_is_retried_and_arrives(receiver, sensors):
    receiver.answers.append((503, {"Retry-After": "1"}, b'{"detail": "busy"}'))
    sensor = sensors(receiver.dsn())
    for i in range(5):
        sensor.record("/v1/items/{item_id}", 200, i)
    started = time.monotonic()
    assert sensor.flush(5)
    waited = time.monotonic() - started
    assert len(receiver.posts) == 2
    first, second = receiver.posts
    assert first.answer[0] == 503 and second.answer[0] == 200
    assert second.records == first.records
    assert waited >= 0.9, "the Retry-After was not honoured"
    stats = sensor.stats()
    assert (stats["sent"], stats["retries"], stats["dropped"], stats["queued"]) == (5, 1, 0, 0)


def test_429_with_an_http_date_retry_after_is_retried(receiver, sensors):
    from email.utils import formatdate

    receiver.answers.append((429, {"Retry-After": formatdate(time.time() + 1, usegmt=True)}, b"{}"))
    sensor = sensors(receiver.dsn())
    sensor.record("/a", 200, 1)
    assert sensor.flush(5)
    assert [p.answer[0] for p in receiver.posts] == [429, 200]
    assert sensor.stats()["sent"] == 1


def test_400_is_not_retried(receiver, sensors):
    receiver.answer_with = lambda post: (400, {}, b'{"detail": "the body is not a JSON array"}')
    sensor = sensors(receiver.dsn())
    for i in range(3):
        sensor.record("/a", 200, i)
    assert sensor.flush(3)
    time.sleep(0.3)  # several flush intervals: nothing more is sent
    assert len(receiver.posts) == 1
    stats = sensor.stats()
    assert (stats["sent"], stats["rejected"], stats["queued"], stats["retries"]) == (0, 3, 0, 0)


def test_per_record_rejections_are_counted(receiver, sensors):
    receiver.answers.append(
        (
            200,
            {},
            b'{"accepted": 2, "rejected": 1, "errors": [{"index": 1, "reason": "timestamp is more than 24 hours old"}]}',
        )
    )
    sensor = sensors(receiver.dsn())
    for i in range(3):
        sensor.record("/a", 200, i)
    assert sensor.flush(3)
    stats = sensor.stats()
    assert (stats["sent"], stats["rejected"]) == (2, 1)


def test_403_drops_and_logs_once(receiver, sensors, caplog):
    receiver.answer_with = lambda post: (403, {}, b'{"detail": "unknown key"}')
    sensor = sensors(receiver.dsn(), batch_size=2)
    with caplog.at_level(logging.ERROR, logger="sentinel_sensor"):
        for i in range(6):
            sensor.record("/a", 200, i)
        assert sensor.flush(3)
    assert len(receiver.posts) == 3
    stats = sensor.stats()
    assert (stats["sent"], stats["dropped"], stats["retries"]) == (0, 6, 0)
    refused = [r for r in caplog.records if "refused the DSN's key" in r.getMessage()]
    assert len(refused) == 1


def test_413_splits_the_batch_until_it_fits(receiver, sensors):
    receiver.answer_with = lambda post: (413, {}, b"{}") if len(post.records) > 30 else None
    sensor = sensors(receiver.dsn(), batch_size=100)
    for i in range(100):
        sensor.record("/a", 200, i)
    assert sensor.flush(5)
    assert [len(p.records) for p in receiver.posts] == [100, 50, 25, 25, 25, 25]
    assert sorted(r["latency_ms"] for r in receiver.accepted_records()) == list(range(100))
    assert sensor.stats()["sent"] == 100


def test_a_down_receiver_never_blocks_and_drops_past_the_bound(down_dsn, sensors):
    sensor = sensors(down_dsn, max_queue=20, batch_size=5, timeout=0.5)
    started = time.perf_counter()
    kept = [sensor.record("/a", 200, 1) for _ in range(100)]
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"recording took {elapsed:.3f}s"
    assert sum(kept) == 20
    time.sleep(0.3)  # the thread tries, fails and keeps the batch for a retry
    stats = sensor.stats()
    assert (stats["dropped"], stats["queued"], stats["sent"]) == (80, 20, 0)
    assert stats["errors"] >= 1
    assert not sensor.flush(0.2)
    started = time.perf_counter()
    sensor.close(timeout=0.2)
    assert time.perf_counter() - started < 1.5
    stats = sensor.stats()
    assert (stats["dropped"], stats["queued"]) == (100, 0)
    assert not sensor.record("/a", 200, 1)


def test_the_buffer_is_kept_while_the_receiver_is_away_and_sent_when_it_is_back(receiver, sensors):
    # Connection-level failures first (500s here), then the receiver recovers.
    receiver.answers.extend([(500, {}, b"oops"), (502, {}, b"oops")])
    sensor = sensors(receiver.dsn(), batch_size=10)
    for i in range(25):
        sensor.record("/a", 200, i)
    assert sensor.flush(8)
    assert sorted(r["latency_ms"] for r in receiver.accepted_records()) == list(range(25))
    stats = sensor.stats()
    assert (stats["sent"], stats["retries"], stats["dropped"]) == (25, 2, 0)


def test_a_sensor_without_dsn_is_disabled(monkeypatch):
    from sentinel_sensor import Sensor

    monkeypatch.delenv("SENTINEL_DSN", raising=False)
    sensor = Sensor()
    assert not sensor.enabled
    assert not sensor.record("/a", 200, 1)
    assert sensor.flush(0.1)
    assert sensor.stats()["queued"] == 0
    sensor.close()


def test_the_dsn_comes_from_the_environment(receiver, monkeypatch):
    from sentinel_sensor import Sensor

    monkeypatch.setenv("SENTINEL_DSN", receiver.dsn())
    sensor = Sensor(flush_interval=0.05)
    try:
        assert sensor.enabled
        sensor.record("/a", 200, 1)
        assert sensor.flush(3)
        assert len(receiver.records) == 1
    finally:
        sensor.close()


def test_records_are_flushed_at_exit(receiver, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "exits.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / 'src')!r})\n"
        "from sentinel_sensor import Sensor\n"
        f"s = Sensor({receiver.dsn()!r}, flush_interval=60)\n"
        "for i in range(3):\n"
        "    s.record('/a', 200, i)\n"
        "print('exiting')\n"
    )
    started = time.monotonic()
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - started < 5
    assert [r["latency_ms"] for r in receiver.records] == [0, 1, 2]


def test_many_threads_recording_at_once_lose_nothing(receiver, sensors):
    import threading

    sensor = sensors(receiver.dsn(), batch_size=100)

    def work(n):
        for i in range(250):
            sensor.record("/a", 200, n * 1000 + i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sensor.flush(5)
    latencies = sorted(r["latency_ms"] for r in receiver.records)
    assert latencies == sorted(n * 1000 + i for n in range(8) for i in range(250))
    assert sensor.stats()["sent"] == 2000


def test_a_forked_child_starts_empty_with_its_own_thread(receiver, sensors):
    import os

    import pytest

    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    sensor = sensors(receiver.dsn(), flush_interval=60)
    sensor.record("/parent", 200, 1)
    pid = os.fork()
    if pid == 0:  # the child: like a pre-forked server worker
        code = 1
        try:
            ok = sensor.stats()["queued"] == 0
            sensor.record("/child", 200, 2)
            ok = ok and sensor.flush(3) and sensor.stats()["sent"] == 1
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [r["endpoint"] for r in receiver.records] == ["/child"]
    assert sensor.flush(3)
    assert [r["endpoint"] for r in receiver.records] == ["/child", "/parent"]
