'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { createSensor } = require('..');
const { startReceiver, closedPort, muteWarnings } = require('./helpers/receiver');

function evt(i, extra = {}) {
  return { tenant_id: `t${i % 3}`, endpoint: `/v1/items/:id`, method: 'GET', status_code: 200 + (i % 2) * 303, latency_ms: i + 0.5, ...extra };
}

test('records arrive in batches of maxBatch, authenticated, gzipped above 1 KiB', async (t) => {
  const rx = await startReceiver();
  t.after(() => rx.close());
  const sensor = createSensor({ dsn: rx.dsn('/prefix'), maxBatch: 10, flushIntervalMs: 20 });
  t.after(() => sensor.close(100));

  for (let i = 0; i < 25; i++) sensor.record(evt(i));
  assert.equal(sensor.stats().queued, 25);
  await rx.waitFor(() => rx.records().length === 25);

  assert.deepEqual(rx.requests.map((r) => r.records.length), [10, 10, 5]);
  for (const r of rx.requests) {
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/prefix/api/42/requests/');
    assert.equal(r.headers['x-sentry-auth'], 'Sentry sentry_key=testkey123, sentry_version=7, sentry_client=sentinel-sensor-node/0.1.0');
    assert.equal(r.headers['content-type'], 'application/json');
  }
  // 10 records are well over 1 KiB of JSON; 5 records are not.
  assert.equal(rx.requests[0].gzipped, true);
  assert.ok(rx.requests[0].rawLength < 1024);
  assert.equal(rx.requests[2].gzipped, false);
  assert.equal(rx.requests[2].headers['content-encoding'], undefined);

  const first = rx.records()[0];
  assert.deepEqual(Object.keys(first), ['tenant_id', 'endpoint', 'method', 'status_code', 'latency_ms', 'timestamp']);
  assert.equal(typeof first.timestamp, 'number');
  assert.ok(Math.abs(first.timestamp - Date.now() / 1000) < 60);
  assert.deepEqual(rx.records().map((r) => r.latency_ms), Array.from({ length: 25 }, (_, i) => i + 0.5));
  await assert.doesNotReject(sensor.flush(1000));
  assert.deepEqual(sensor.stats(), { sent: 25, dropped: 0, rejected: 0, queued: 0, errors: 0 });
});

test("the server's accepted and rejected counts are what the stats report", async (t) => {
  const rx = await startReceiver((req) => ({
    body: { accepted: req.records.length - 1, rejected: 1, errors: [{ index: 0, reason: 'timestamp is more than 24 hours old' }] },
  }));
  t.after(() => rx.close());
  const sensor = createSensor({ dsn: rx.dsn(), flushIntervalMs: 60_000 });
  t.after(() => sensor.close(100));
  const warnings = muteWarnings(t);
  for (let i = 0; i < 4; i++) sensor.record(evt(i));
  assert.equal(await sensor.flush(2000), true);
  assert.deepEqual(sensor.stats(), { sent: 3, dropped: 0, rejected: 1, queued: 0, errors: 0 });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /rejected 1 of 4 .*24 hours old/);
});

test('503 with Retry-After keeps the batch and sends it again after the delay', async (t) => {
  const rx = await startReceiver((req, n) => (n === 0 ? { status: 503, headers: { 'retry-after': '1' }, body: { detail: 'busy' } } : undefined));
  t.after(() => rx.close());
  const sensor = createSensor({ dsn: rx.dsn(), flushIntervalMs: 20 });
  t.after(() => sensor.close(100));
  for (let i = 0; i < 3; i++) sensor.record(evt(i));
  await rx.waitFor(() => rx.requests.length === 1);
  // Waiting out the delay, the batch stays queued (and counts toward maxQueue).
  assert.equal(sensor.stats().queued, 3);
  await rx.waitFor(() => rx.requests.length === 2, 5000);
  assert.ok(rx.requests[1].at - rx.requests[0].at >= 950, 'Retry-After honoured');
  assert.deepEqual(rx.requests[1].records, rx.requests[0].records);
  await sensor.flush(1000);
  assert.deepEqual(sensor.stats(), { sent: 3, dropped: 0, rejected: 0, queued: 0, errors: 1 });
});

test('429 with Retry-After is waited out by flush when it ends before the deadline', async (t) => {
  const rx = await startReceiver((req, n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' }, body: { detail: 'slow down' } } : undefined));
  t.after(() => rx.close());
  const sensor = createSensor({ dsn: rx.dsn(), flushIntervalMs: 60_000 });
  t.after(() => sensor.close(100));
  sensor.record(evt(1));
  assert.equal(await sensor.flush(200), false, 'the delay outlasts a short flush');
  assert.equal(sensor.stats().queued, 1);
  assert.equal(await sensor.flush(3000), true);
  assert.equal(rx.requests.length, 2);
  assert.equal(sensor.stats().sent, 1);
});

test('400 is not retried: the batch counts as rejected and the next one goes on alone', async (t) => {
  const rx = await startReceiver((req, n) => (n === 0 ? { status: 400, body: { detail: 'the body is not a JSON array of request records' } } : undefined));
  t.after(() => rx.close());
  const sensor = createSensor({ dsn: rx.dsn(), flushIntervalMs: 60_000 });
  t.after(() => sensor.close(100));
  muteWarnings(t);
  for (let i = 0; i < 5; i++) sensor.record(evt(i));
  assert.equal(await sensor.flush(2000), true);
  sensor.record(evt(99));
  assert.equal(await sensor.flush(2000), true);
  assert.equal(rx.requests.length, 2);
  assert.deepEqual(rx.requests[1].records.map((r) => r.latency_ms), [99.5]);
  assert.deepEqual(sensor.stats(), { sent: 1, dropped: 0, rejected: 5, queued: 0, errors: 1 });
});

test('403 drops the batch, is not retried and warns once', async (t) => {
  const rx = await startReceiver(() => ({ status: 403, body: { detail: 'unknown or disabled project key' } }));
  t.after(() => rx.close());
  const sensor = createSensor({ dsn: rx.dsn(), flushIntervalMs: 60_000, maxBatch: 2 });
  t.after(() => sensor.close(100));
  const warnings = muteWarnings(t);
  for (let i = 0; i < 5; i++) sensor.record(evt(i));
  assert.equal(await sensor.flush(2000), true);
  assert.deepEqual(rx.requests.map((r) => r.records.length), [2, 2, 1]);
  assert.deepEqual(sensor.stats(), { sent: 0, dropped: 5, rejected: 0, queued: 0, errors: 3 });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /403.*unknown or disabled project key/);
});

test('413 splits the batch until the pieces are taken', async (t) => {
  const rx = await startReceiver((req) => (req.records.length > 3 ? { status: 413, body: { detail: 'too large' } } : undefined));
  t.after(() => rx.close());
  const sensor = createSensor({ dsn: rx.dsn(), flushIntervalMs: 60_000 });
  t.after(() => sensor.close(100));
  for (let i = 0; i < 10; i++) sensor.record(evt(i));
  assert.equal(await sensor.flush(2000), true);
  const taken = rx.requests.filter((r) => r.records.length <= 3).flatMap((r) => r.records);
  assert.deepEqual(taken.map((r) => r.latency_ms), Array.from({ length: 10 }, (_, i) => i + 0.5));
  assert.equal(sensor.stats().sent, 10);
});

test('a dropped connection is retried with backoff and the records arrive', async (t) => {
  const rx = await startReceiver((req, n) => (n === 0 ? 'destroy' : undefined));
  t.after(() => rx.close());
  const sensor = createSensor({ dsn: rx.dsn(), flushIntervalMs: 20 });
  t.after(() => sensor.close(100));
  muteWarnings(t);
  for (let i = 0; i < 3; i++) sensor.record(evt(i));
  await rx.waitFor(() => rx.requests.length === 2, 5000);
  assert.ok(rx.requests[1].at - rx.requests[0].at >= 700, 'backed off about a second');
  await sensor.flush(1000);
  assert.equal(sensor.stats().sent, 3);
});

test('with Sentinel down the queue stays bounded: new records are dropped and counted', async (t) => {
  const port = await closedPort();
  const sensor = createSensor({ dsn: `http://k@127.0.0.1:${port}/1`, maxQueue: 20, maxBatch: 5, flushIntervalMs: 10 });
  const warnings = muteWarnings(t);
  for (let i = 0; i < 50; i++) {
    assert.equal(sensor.record(evt(i)), i < 20);
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(await sensor.flush(300), false);
  assert.equal(await sensor.close(50), false);
  const s = sensor.stats();
  assert.equal(s.dropped, 30);
  assert.equal(s.queued, 20);
  assert.equal(s.sent, 0);
  assert.ok(s.errors >= 1);
  assert.equal(warnings.length, 1, 'at most one warning a minute');
  assert.equal(sensor.record(evt(0)), false, 'closed');
});

test('without a DSN the sensor is off: nothing is queued or sent', async (t) => {
  const saved = process.env.SENTINEL_DSN;
  delete process.env.SENTINEL_DSN;
  try {
    const warnings = muteWarnings(t);
    const sensor = createSensor({});
    assert.equal(sensor.record(evt(1)), false);
    assert.equal(await sensor.close(10), true);
    assert.deepEqual(sensor.stats(), { sent: 0, dropped: 1, rejected: 0, queued: 0, errors: 0 });
    assert.match(warnings[0], /no DSN/);
  } finally {
    if (saved !== undefined) process.env.SENTINEL_DSN = saved;
  }
});

test('bad options fail at creation, not later', () => {
  assert.throws(() => createSensor({ dsn: 'http://127.0.0.1/1' }), /public key/);
  assert.throws(() => createSensor({ dsn: 'http://k@h/1', maxQueue: 0 }), /maxQueue/);
  assert.throws(() => createSensor({ dsn: 'http://k@h/1', tenant: 'x-tenant' }), /tenant must be a function/);
});

/** Runs `code` in a child Node process with the package as `sensorLib`; resolves on its exit. */
function runChild(code) {
  const { execFile } = require('node:child_process');
  const lib = JSON.stringify(require.resolve('..'));
  return new Promise((resolve) => {
    const started = Date.now();
    execFile(process.execPath, ['-e', `const sensorLib = require(${lib});\n${code}`], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr, ms: Date.now() - started });
    });
  });
}

test('a process that ends naturally sends what it recorded on beforeExit', async (t) => {
  const rx = await startReceiver();
  t.after(() => rx.close());
  const { code, stderr } = await runChild(`
    const sensor = sensorLib.createSensor({ dsn: ${JSON.stringify(rx.dsn())}, flushIntervalMs: 60000 });
    sensor.record({ tenant_id: 'acme', endpoint: '/jobs/:id', method: 'POST', status_code: 500, latency_ms: 3 });
  `);
  assert.equal(code, 0, stderr);
  assert.deepEqual(rx.records().map((r) => [r.tenant_id, r.endpoint, r.status_code]), [['acme', '/jobs/:id', 500]]);
});

test('with Sentinel down, the exit flush gives up and the process still exits', async () => {
  const port = await closedPort();
  const { code, ms } = await runChild(`
    const sensor = sensorLib.createSensor({ dsn: 'http://k@127.0.0.1:${port}/1', timeoutMs: 500 });
    sensor.record({ endpoint: '/', status_code: 200, latency_ms: 1 });
  `);
  assert.equal(code, 0);
  assert.ok(ms < 15_000, `exited after ${ms} ms`);
});
