"""The sensor: a bounded in-memory buffer and a daemon thread that posts batches to Sentinel.

Nothing here may block or fail the application's request: :meth:`Sensor.record` appends to a
bounded buffer under a lock that is never held during I/O, and drops (and counts) the record when
the buffer is full. Every error is swallowed, counted and logged at most once a minute.
"""

from __future__ import annotations

import atexit
import collections
import email.utils
import gzip
import json
import logging
import math
import os
import random
import threading
import time
import urllib.error
import urllib.request
import weakref
from typing import Any, Dict, List, Optional, Tuple

from .dsn import Dsn, parse_dsn
from .routes import MAX_ENDPOINT_CHARS

__all__ = ["Sensor", "VERSION", "USER_AGENT"]

VERSION = "0.1.0"
USER_AGENT = f"sentinel-sensor-python/{VERSION}"

logger = logging.getLogger("sentinel_sensor")

MAX_TENANT_CHARS = 200
MAX_METHOD_CHARS = 16
# Sentinel rejects latencies of an hour or more; longer requests are reported as just under it.
MAX_LATENCY_MS = 3_600_000.0 - 0.001
# Longest wait a Retry-After may impose (larger values are cut to this).
MAX_RETRY_AFTER_S = 600.0
# A Retry-After of 0 would make the thread spin.
MIN_RETRY_AFTER_S = 0.1
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
LOG_EVERY_S = 60.0
# How much of an answer's body is read.
MAX_ANSWER_BYTES = 64 * 1024

_live_sensors: "weakref.WeakSet[Sensor]" = weakref.WeakSet()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without body: treat it as an answer instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None


class Sensor:
    """Buffers request events and sends them to Sentinel in batches from a daemon thread.

    Parameters:
        dsn: ``http(s)://PUBLIC_KEY@host[:port][/prefix]/PROJECT_ID``. ``None`` reads the
            ``SENTINEL_DSN`` environment variable; when that is empty too the sensor is disabled
            (records nothing, sends nothing). A malformed DSN raises ``ValueError`` here, at
            start-up, never later.
        max_queue: most records held in memory, waiting or being retried (default 10,000). A
            record arriving when it is full is dropped and counted in ``stats()["dropped"]``.
        batch_size: most records in one POST; a batch is sent as soon as this many are waiting
            (default 1,000).
        flush_interval: seconds a record may wait before its batch is sent (default 1.0).
        timeout: seconds for one POST, connecting included (default 5.0).
        gzip_threshold: bodies larger than this many bytes are gzip-compressed (default 1,024).
        shutdown_timeout: seconds the ``atexit`` flush may take (default 2.0).
    """

    def __init__(
        self,
        dsn: Optional[str] = None,
        *,
        max_queue: int = 10_000,
        batch_size: int = 1_000,
        flush_interval: float = 1.0,
        timeout: float = 5.0,
        gzip_threshold: int = 1024,
        shutdown_timeout: float = 2.0,
    ) -> None:
        if dsn is None:
            dsn = os.environ.get("SENTINEL_DSN") or None
        self.dsn: Optional[Dsn] = parse_dsn(dsn) if dsn else None
        if max_queue < 1 or batch_size < 1:
            raise ValueError("max_queue and batch_size must be at least 1")
        if flush_interval <= 0 or timeout <= 0:
            raise ValueError("flush_interval and timeout must be positive")
        self.max_queue = int(max_queue)
        self.batch_size = int(batch_size)
        self.flush_interval = float(flush_interval)
        self.timeout = float(timeout)
        self.gzip_threshold = int(gzip_threshold)
        self.shutdown_timeout = float(shutdown_timeout)
        if self.dsn is not None:
            self._url = self.dsn.requests_url
            self._auth = (
                f"Sentry sentry_key={self.dsn.public_key}, sentry_version=7, sentry_client={USER_AGENT}"
            )
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._reset()
        self._closed = False
        _live_sensors.add(self)

    # -- state ---------------------------------------------------------------------------------

    def _reset(self) -> None:
        """Fresh state; also what a forked child starts from (the parent's records stay there)."""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._buf: "collections.deque[Dict[str, Any]]" = collections.deque()
        # Taken from the buffer, being sent or waiting for a retry (oldest first).
        self._pending: List[Dict[str, Any]] = []
        self._oldest: Optional[float] = None
        self._retry_at = 0.0
        self._backoff = 0.0
        self._cap = self.batch_size
        self._flush_wanted = False
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self._counts = {"sent": 0, "dropped": 0, "rejected": 0, "errors": 0, "retries": 0}
        self._last_log = -math.inf
        self._logged_auth = False

    @property
    def enabled(self) -> bool:
        """False when no DSN was given: the sensor then records and sends nothing."""
        return self.dsn is not None

    def stats(self) -> Dict[str, int]:
        """Counters since start.

        - ``sent``: records Sentinel accepted;
        - ``dropped``: records lost on this side: the buffer was full, the key was refused
          (401/403), the answer was an unexpected 4xx, or they were still unsent at ``close()``;
        - ``rejected``: records Sentinel refused (its 200 answer's ``rejected``, or a whole
          batch answered 400), plus records the sensor could not make valid;
        - ``queued``: records held now, waiting or being retried;
        - ``errors``: sensor-side failures (network errors, failing callables, bugs), all
          swallowed;
        - ``retries``: batches sent again after a 429, a 5xx or a network error.
        """
        with self._lock:
            out = dict(self._counts)
            out["queued"] = len(self._buf) + len(self._pending)
        return out

    # -- recording (the application's threads) --------------------------------------------------

    def record(
        self,
        endpoint: str,
        status_code: int,
        latency_ms: float,
        *,
        tenant_id: Optional[str] = None,
        method: Optional[str] = None,
        timestamp: Optional[float] = None,
    ) -> bool:
        """Queues one request event without blocking; returns whether it was kept.

        ``endpoint`` should be a route template (see :func:`sentinel_sensor.normalize_path`);
        it and ``tenant_id`` are cut to 200 characters, an empty ``tenant_id`` is sent as
        ``null``; ``timestamp`` (seconds since the epoch) defaults to now. Never raises.
        """
        if self.dsn is None:
            return False
        try:
            rec = self._make_record(endpoint, status_code, latency_ms, tenant_id, method, timestamp)
        except Exception:  # noqa: BLE001 - never fail the caller
            self._count_error("could not build a request record")
            return False
        if rec is None:
            with self._lock:
                self._counts["rejected"] += 1
            return False
        try:
            with self._cond:
                if self._closed or len(self._buf) + len(self._pending) >= self.max_queue:
                    self._counts["dropped"] += 1
                    return False
                if not self._buf and not self._pending:
                    self._oldest = time.monotonic()
                self._buf.append(rec)
                if len(self._buf) >= self._cap:
                    self._cond.notify_all()
            if self._thread is None:
                self._start_thread()
            return True
        except Exception:  # noqa: BLE001
            self._count_error("could not queue a request record")
            return False

    @staticmethod
    def _make_record(
        endpoint: Any,
        status_code: Any,
        latency_ms: Any,
        tenant_id: Any,
        method: Any,
        timestamp: Any,
    ) -> Optional[Dict[str, Any]]:
        endpoint = str(endpoint).strip()[:MAX_ENDPOINT_CHARS] or "/"
        status = int(status_code)
        if not 100 <= status <= 599:
            return None
        latency = float(latency_ms)
        if math.isnan(latency):
            return None
        latency = min(max(latency, 0.0), MAX_LATENCY_MS)
        if tenant_id is not None:
            tenant_id = str(tenant_id)[:MAX_TENANT_CHARS] or None
        m = str(method or "").strip().upper()
        if len(m) > MAX_METHOD_CHARS or not (m.isascii() and (m.isalpha() or m == "")):
            m = ""
        ts = time.time() if timestamp is None else float(timestamp)
        if not math.isfinite(ts):
            ts = time.time()
        return {
            "tenant_id": tenant_id,
            "endpoint": endpoint,
            "method": m,
            "status_code": status,
            "latency_ms": round(latency, 3),
            "timestamp": round(ts, 3),
        }

    # -- flushing and closing -----------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Sends everything held now and waits up to ``timeout`` seconds for it to be resolved.

        Returns True when nothing is left to send (records were accepted, rejected or dropped),
        False when the timeout came first (they stay queued and are retried).
        A pending ``Retry-After`` is honoured, not skipped.
        """
        if self.dsn is None:
            return True
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            with self._cond:
                if not self._buf and not self._pending:
                    return True
                self._flush_wanted = True
                self._cond.notify_all()
            if self._thread is None or not self._thread.is_alive():
                if not self._start_thread():
                    return self._drain_here(deadline)
            with self._cond:
                while self._buf or self._pending:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                return True
        except Exception:  # noqa: BLE001
            self._count_error("flush failed")
            return False

    def close(self, timeout: float = 2.0) -> bool:
        """Flushes for up to ``timeout`` seconds, then stops the thread.

        Records still unsent are counted as dropped. Later ``record()`` calls drop. Returns
        whether everything was resolved.
        """
        if self._closed:
            return True
        deadline = time.monotonic() + max(0.0, timeout)
        ok = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # Let a POST in flight finish (within the timeout) so it is counted right.
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._closed = True
            left = len(self._buf) + len(self._pending)
            self._counts["dropped"] += left
            self._buf.clear()
            self._pending.clear()
            self._cond.notify_all()
        _live_sensors.discard(self)
        return ok

    def _shutdown(self) -> None:
        if not self._closed and self.dsn is not None:
            try:
                self.flush(self.shutdown_timeout)
            except Exception:  # noqa: BLE001
                pass

    def _after_fork(self) -> None:
        # The parent's thread does not exist here; its records are the parent's to send.
        self._reset()

    # -- the background thread ------------------------------------------------------------------

    def _start_thread(self) -> bool:
        # Started under the lock, so that two callers can never start two threads (start() only
        # waits for the thread to exist; the thread takes the lock later).
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return True
            if self._stopping:
                return False
            thread = threading.Thread(target=self._run, name="sentinel-sensor", daemon=True)
            try:
                thread.start()
            except RuntimeError:
                # E.g. "can't create new thread at interpreter shutdown".
                self._thread = None
                return False
            self._thread = thread
            return True

    def _due_at(self) -> Optional[float]:
        """When the next batch should go (monotonic), or None when there is nothing to send."""
        if not self._buf and not self._pending:
            return None
        if self._flush_wanted or len(self._buf) + len(self._pending) >= self._cap:
            due = 0.0
        else:
            due = (self._oldest or 0.0) + self.flush_interval
        return max(due, self._retry_at)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    due = self._due_at()
                    now = time.monotonic()
                    if due is not None and now >= due:
                        break
                    self._cond.wait(None if due is None else due - now)
                batch = self._take_batch()
            self._send_and_settle(batch)

    def _drain_here(self, deadline: float) -> bool:
        """Sends from the calling thread (only when no thread can be started)."""
        while time.monotonic() < deadline:
            with self._cond:
                if not self._buf and not self._pending:
                    return True
                if self._retry_at > time.monotonic():
                    return False
                batch = self._take_batch()
            self._send_and_settle(batch)
        with self._lock:
            return not self._buf and not self._pending

    def _take_batch(self) -> List[Dict[str, Any]]:
        """Moves records from the buffer to pending and returns the next batch (lock held)."""
        want = self._cap - len(self._pending)
        while want > 0 and self._buf:
            self._pending.append(self._buf.popleft())
            want -= 1
        return self._pending[: self._cap]

    def _send_and_settle(self, batch: List[Dict[str, Any]]) -> None:
        try:
            outcome, value = self._send(batch)
        except Exception:  # noqa: BLE001 - a bug must not kill the thread or loop forever
            self._count_error("unexpected error while sending a batch; it is dropped")
            outcome, value = "dropped", len(batch)
        now = time.monotonic()
        with self._cond:
            if self._closed:
                return  # close() already counted this batch as dropped
            n = len(batch)
            if outcome == "ok":
                accepted, rejected = value
                self._counts["sent"] += accepted
                self._counts["rejected"] += rejected
                self._settled(n)
            elif outcome == "rejected":
                self._counts["rejected"] += n
                self._settled(n)
            elif outcome == "dropped":
                self._counts["dropped"] += n
                self._settled(n)
            elif outcome == "too_large":
                if n == 1:
                    self._counts["rejected"] += 1
                    self._settled(1)
                else:
                    self._cap = max(1, n // 2)
            else:  # "retry", value = Retry-After seconds or None
                self._counts["retries"] += 1
                if value is None:
                    self._backoff = (
                        BACKOFF_START_S if self._backoff == 0 else min(self._backoff * 2, BACKOFF_MAX_S)
                    )
                    delay = self._backoff * random.uniform(0.8, 1.2)
                else:
                    delay = value
                self._retry_at = now + delay
            if not self._buf and not self._pending:
                self._oldest = None
                self._flush_wanted = False
                self._cond.notify_all()

    def _settled(self, n: int) -> None:
        del self._pending[:n]
        self._backoff = 0.0
        self._retry_at = 0.0

    # -- HTTP --------------------------------------------------------------------------------------

    def _send(self, batch: List[Dict[str, Any]]) -> Tuple[str, Any]:
        """POSTs one batch; returns (outcome, value) without touching shared state."""
        body = json.dumps(batch, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        data = body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Sentry-Auth": self._auth,
            "User-Agent": USER_AGENT,
        }
        if len(data) > self.gzip_threshold:
            data = gzip.compress(data, compresslevel=6)
            headers["Content-Encoding"] = "gzip"
        req = urllib.request.Request(self._url, data=data, headers=headers, method="POST")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                code = resp.status
                answer = resp.read(MAX_ANSWER_BYTES)
                retry_after = resp.headers.get("Retry-After")
        except urllib.error.HTTPError as e:
            code = e.code
            retry_after = e.headers.get("Retry-After") if e.headers is not None else None
            try:
                answer = e.read(MAX_ANSWER_BYTES)
            except Exception:  # noqa: BLE001
                answer = b""
            finally:
                e.close()
        except Exception as e:  # noqa: BLE001 - URLError, timeouts, resets, TLS errors
            self._count_error(f"could not reach Sentinel at {self._url}: {_reason(e)}; will retry")
            return "retry", None

        if 200 <= code < 300:
            return "ok", self._read_counts(answer, len(batch))
        if code == 400:
            self._log(f"Sentinel refused a batch of {len(batch)} request records (400): {_text(answer)}")
            return "rejected", None
        if code in (401, 403):
            with self._lock:
                first = not self._logged_auth
                self._logged_auth = True
            if first:
                logger.error(
                    "Sentinel refused the DSN's key (%s): request events are dropped; "
                    "check the DSN. (Logged once.) %s",
                    code,
                    _text(answer),
                )
            return "dropped", None
        if code == 413:
            self._log(f"Sentinel found a batch of {len(batch)} records too large (413); splitting it")
            return "too_large", None
        if code in (429, 503):
            delay = _retry_after(retry_after)
            self._log(f"Sentinel asked to retry later ({code}, Retry-After: {retry_after})")
            return "retry", delay
        if code >= 500:
            self._count_error(f"Sentinel answered {code}; will retry")
            return "retry", None
        self._count_error(f"Sentinel answered {code} for a batch; it is dropped: {_text(answer)}")
        return "dropped", None

    def _read_counts(self, answer: bytes, n: int) -> Tuple[int, int]:
        try:
            doc = json.loads(answer.decode("utf-8"))
            accepted = int(doc["accepted"])
            rejected = int(doc.get("rejected", 0))
        except Exception:  # noqa: BLE001 - an answer without counts: take it as all accepted
            return n, 0
        if rejected:
            errors = doc.get("errors") or []
            first = errors[0] if errors and isinstance(errors[0], dict) else {}
            self._log(
                f"Sentinel rejected {rejected} of {n} request records; first: "
                f"index {first.get('index')}: {first.get('reason')}"
            )
        return accepted, rejected

    # -- errors and logging -----------------------------------------------------------------------

    def _count_error(self, message: str) -> None:
        with self._lock:
            self._counts["errors"] += 1
        self._log(message)

    def _log(self, message: str) -> None:
        """Logs a warning at most once a minute (the rest are only counted)."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_log < LOG_EVERY_S:
                return
            self._last_log = now
        try:
            logger.warning("sentinel-sensor: %s", message)
        except Exception:  # noqa: BLE001
            pass


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - time.time()
        except Exception:  # noqa: BLE001
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, MIN_RETRY_AFTER_S), MAX_RETRY_AFTER_S)


def _text(answer: bytes) -> str:
    return answer[:300].decode("utf-8", "replace").strip()


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError):
        return str(e.reason)
    return f"{type(e).__name__}: {e}"


@atexit.register
def _flush_at_exit() -> None:
    for sensor in list(_live_sensors):
        sensor._shutdown()


if hasattr(os, "register_at_fork"):

    def _reset_in_child() -> None:
        for sensor in list(_live_sensors):
            try:
                sensor._after_fork()
            except Exception:  # noqa: BLE001
                pass

    os.register_at_fork(after_in_child=_reset_in_child)
