'use strict';

// The sensor: a bounded in-memory queue of request records and the loop that posts them to
// Sentinel's batch endpoint. Nothing here may throw into, or wait inside, the application's
// request path: `record` is a synchronous push, sending happens on an unref'd timer, and every
// failure is counted and swallowed.

const zlib = require('node:zlib');
const { promisify } = require('node:util');
const { parseDsn } = require('./dsn');
const { toRecord } = require('./record');
const { version } = require('../package.json');

const gzip = promisify(zlib.gzip);

const CLIENT = `sentinel-sensor-node/${version}`;
/** Bodies above this many bytes are gzipped. */
const GZIP_ABOVE = 1024;
const WARN_EVERY_MS = 60_000;
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
/** `Retry-After` is honoured within these bounds (0 would let a busy server be hammered). */
const RETRY_AFTER_MIN_MS = 1_000;
const RETRY_AFTER_MAX_MS = 600_000;

const DEFAULTS = { flushIntervalMs: 1000, maxBatch: 1000, maxQueue: 10000, timeoutMs: 5000 };

/** Lets the framework integrations count their own swallowed errors on the sensor. */
const kError = Symbol.for('sentinel.sensor.error');

/** The default tenant: the `x-tenant-id` request header. */
function tenantFromHeader(req) {
  return req.headers['x-tenant-id'];
}

function positive(name, value) {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new TypeError(`sentinel sensor: ${name} must be a positive number, got ${value}`);
  }
  return value;
}

/** `Retry-After` in milliseconds (seconds or an HTTP date), or `null` when absent or unreadable. */
function retryAfterMs(header, now) {
  if (header == null || header.trim() === '') return null;
  const secs = Number(header);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(header) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.min(Math.max(ms, RETRY_AFTER_MIN_MS), RETRY_AFTER_MAX_MS);
}

/** Waits for `promise` (or nothing) for at most `ms`; never rejects. */
function within(promise, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(ms, 0));
    if (promise) {
      promise.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        () => {
          clearTimeout(timer);
          resolve();
        },
      );
    }
  });
}

/**
 * @param {import('../index').SensorOptions} [options]
 * @returns {import('../index').Sensor}
 */
function createSensor(options = {}) {
  const flushIntervalMs = positive('flushIntervalMs', options.flushIntervalMs ?? DEFAULTS.flushIntervalMs);
  const maxQueue = Math.floor(positive('maxQueue', options.maxQueue ?? DEFAULTS.maxQueue));
  const maxBatch = Math.min(Math.floor(positive('maxBatch', options.maxBatch ?? DEFAULTS.maxBatch)), maxQueue);
  const timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULTS.timeoutMs);
  if (options.tenant != null && typeof options.tenant !== 'function') {
    throw new TypeError('sentinel sensor: tenant must be a function (req) => string | undefined');
  }
  const tenant = options.tenant ?? tenantFromHeader;
  const dsn = options.dsn ?? process.env.SENTINEL_DSN ?? '';
  const target = dsn ? parseDsn(dsn) : null;
  const headers = target && {
    'Content-Type': 'application/json',
    'User-Agent': CLIENT,
    'X-Sentry-Auth': `Sentry sentry_key=${target.publicKey}, sentry_version=7, sentry_client=${CLIENT}`,
  };

  /** Records waiting to be sent, oldest first. */
  let queue = [];
  /** Records in the request being sent: they count toward `maxQueue` until settled. */
  let inflight = 0;
  let sent = 0;
  let dropped = 0;
  let rejected = 0;
  let errors = 0;
  /** Records taken per request: halved on 413, grown back on success. */
  let batchSize = maxBatch;
  /** No request before this time (ms); set by `Retry-After` or the backoff after a failure. */
  let retryAt = 0;
  let retryFromServer = false;
  let failures = 0;
  /** The running send loop, if any. */
  let draining = null;
  let kicked = false;
  let closed = false;
  let lastWarn = -Infinity;
  let warnedForbidden = false;
  let recordedTotal = 0;
  let exitFlushedAt = -1;

  function warn(message) {
    const now = Date.now();
    if (now - lastWarn < WARN_EVERY_MS) return false;
    lastWarn = now;
    console.warn(`[sentinel-sensor] ${message}`);
    return true;
  }

  if (!target) warn('no DSN given (option dsn or SENTINEL_DSN): request events are not sent');

  function record(evt) {
    try {
      if (closed || !target || queue.length + inflight >= maxQueue) {
        dropped++;
        if (target && !closed) warn(`the queue is full (${maxQueue} records): dropping request events`);
        return false;
      }
      const r = toRecord(evt);
      if (!r) {
        rejected++;
        return false;
      }
      queue.push(r);
      recordedTotal++;
      if (queue.length >= batchSize && !kicked && !draining && Date.now() >= retryAt) {
        kicked = true;
        setImmediate(() => {
          kicked = false;
          drain();
        });
      }
      return true;
    } catch {
      errors++;
      return false;
    }
  }

  function backoff(ms) {
    failures++;
    retryFromServer = ms != null;
    if (ms == null) {
      const base = Math.min(BACKOFF_FIRST_MS * 2 ** (failures - 1), BACKOFF_MAX_MS);
      ms = base * (0.8 + 0.4 * Math.random());
    }
    retryAt = Date.now() + ms;
  }

  async function post(batch) {
    let body = Buffer.from(JSON.stringify(batch));
    let sendHeaders = headers;
    if (body.length > GZIP_ABOVE) {
      body = await gzip(body);
      sendHeaders = { ...headers, 'Content-Encoding': 'gzip' };
    }
    const res = await fetch(target.url, {
      method: 'POST',
      headers: sendHeaders,
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Read the answer to the end so the connection can be reused.
    const text = await res.text();
    return { status: res.status, retryAfter: res.headers.get('retry-after'), text };
  }

  /** Sends one batch from the head of the queue and settles it. Never rejects. */
  async function sendOne() {
    const batch = queue.splice(0, batchSize);
    inflight = batch.length;
    let answer;
    try {
      answer = await post(batch);
    } catch (err) {
      answer = { error: err };
    }
    inflight = 0;
    settle(batch, answer);
  }

  function requeue(batch) {
    queue = batch.concat(queue);
  }

  function settle(batch, { status, retryAfter, text, error }) {
    const n = batch.length;
    if (error) {
      errors++;
      requeue(batch);
      backoff(null);
      warn(`could not reach Sentinel at ${target.url} (${error.cause?.code ?? error.cause?.message ?? error.name}): retrying`);
      return;
    }
    if (status >= 200 && status < 300) {
      let answer = {};
      try {
        answer = JSON.parse(text);
      } catch {
        // A 2xx without the usual body still means the batch was taken.
      }
      const accepted = Number.isInteger(answer.accepted) ? answer.accepted : n;
      const refused = Number.isInteger(answer.rejected) ? answer.rejected : 0;
      sent += accepted;
      rejected += refused;
      if (refused > 0) {
        const first = Array.isArray(answer.errors) && answer.errors[0];
        warn(`Sentinel rejected ${refused} of ${n} request events${first ? `: ${first.reason}` : ''}`);
      }
      failures = 0;
      retryAt = 0;
      batchSize = Math.min(batchSize * 2, maxBatch);
      return;
    }
    errors++;
    if (status === 429 || status === 503) {
      requeue(batch);
      backoff(retryAfterMs(retryAfter, Date.now()));
      return;
    }
    if (status === 413 && n > 1) {
      requeue(batch);
      batchSize = Math.max(1, Math.floor(n / 2));
      return;
    }
    if (status === 408 || status >= 500) {
      requeue(batch);
      backoff(null);
      warn(`Sentinel answered ${status}: retrying`);
      return;
    }
    if (status === 400) {
      rejected += n;
      warn(`Sentinel refused a batch of ${n} request events (400): ${detail(text)}`);
      return;
    }
    dropped += n;
    if (status === 403) {
      if (!warnedForbidden && warn(`Sentinel refused the DSN's key (403): ${detail(text)}`)) {
        warnedForbidden = true;
      }
      return;
    }
    warn(`Sentinel answered ${status}: dropped ${n} request events`);
  }

  function detail(text) {
    try {
      return String(JSON.parse(text).detail ?? text).slice(0, 300);
    } catch {
      return String(text).slice(0, 300);
    }
  }

  /** Starts the send loop unless it runs or must wait; returns it (or `null`). */
  function drain() {
    if (draining) return draining;
    if (!target || queue.length === 0 || Date.now() < retryAt) return null;
    draining = (async () => {
      while (queue.length > 0 && Date.now() >= retryAt) await sendOne();
    })()
      .catch(() => {
        errors++;
      })
      .finally(() => {
        draining = null;
      });
    return draining;
  }

  /**
   * Sends everything queued, waiting out a server's `Retry-After` when it ends before the
   * deadline; the sensor's own backoff after a network error is skipped once. Resolves `true`
   * when nothing is left to send, `false` at the deadline. Never rejects.
   */
  async function flush(flushTimeoutMs = timeoutMs) {
    const deadline = Date.now() + (Number(flushTimeoutMs) >= 0 ? Number(flushTimeoutMs) : timeoutMs);
    let skippedBackoff = false;
    try {
      while (queue.length > 0 || draining) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        if (draining) {
          await within(draining, left);
          continue;
        }
        if (Date.now() < retryAt) {
          if (!retryFromServer && !skippedBackoff) {
            skippedBackoff = true;
            retryAt = 0;
          } else if (retryAt < deadline) {
            await within(null, retryAt - Date.now());
            continue;
          } else {
            return false;
          }
        }
        if (!drain()) return queue.length === 0;
      }
      return true;
    } catch {
      errors++;
      return false;
    }
  }

  const timer = setInterval(drain, flushIntervalMs);
  timer.unref();

  // The event loop is about to empty: send what is left once (a flush keeps the process alive
  // for at most `timeoutMs`; if it fails, beforeExit comes again and must not loop).
  function onBeforeExit() {
    if (queue.length > 0 && exitFlushedAt !== recordedTotal) {
      exitFlushedAt = recordedTotal;
      flush();
    }
  }
  process.on('beforeExit', onBeforeExit);

  function close(closeTimeoutMs = timeoutMs) {
    if (!closed) {
      closed = true;
      clearInterval(timer);
      process.removeListener('beforeExit', onBeforeExit);
    }
    return flush(closeTimeoutMs);
  }

  function stats() {
    return { sent, dropped, rejected, queued: queue.length + inflight, errors };
  }

  return {
    record,
    flush,
    close,
    stats,
    tenant,
    [kError]() {
      errors++;
    },
  };
}

module.exports = { createSensor, kError, tenantFromHeader };
