'use strict';

// Runs test/live_app.js as Sentinel's integration test will, against a receiver answering like
// Sentinel's batch endpoint.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { startReceiver } = require('./helpers/receiver');

const SCRIPT = path.join(__dirname, 'live_app.js');

function run(framework, dsn) {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, framework], { env: { ...process.env, SENTINEL_DSN: dsn }, timeout: 25_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

function count(records, predicate) {
  return records.filter(predicate).length;
}

for (const framework of ['express', 'fastify']) {
  test(`live_app ${framework}: 45 requests reach the receiver and the script reports them`, async (t) => {
    const rx = await startReceiver();
    t.after(() => rx.close());
    const { code, stdout, stderr } = await run(framework, rx.dsn());
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), { sent: 45, dropped: 0, rejected: 0, template: '/v1/items/:id' });
    assert.equal(stdout.trim().split('\n').length, 1);

    const got = rx.records();
    assert.equal(got.length, 45);
    assert.equal(count(got, (r) => r.tenant_id === 'acme' && r.endpoint === '/v1/items/:id'), 30);
    assert.equal(count(got, (r) => r.tenant_id === 'acme' && r.status_code === 500), 20);
    assert.equal(count(got, (r) => r.tenant_id === 'beta' && r.endpoint === '/health' && r.status_code === 200), 10);
    assert.equal(count(got, (r) => r.tenant_id === null && r.endpoint === '/health' && r.status_code === 200), 5);
  });
}

test('live_app exits non-zero when Sentinel does not take the events', async (t) => {
  const rx = await startReceiver(() => ({ status: 403, body: { detail: 'unknown or disabled project key' } }));
  t.after(() => rx.close());
  const { code, stdout } = await run('express', rx.dsn());
  assert.equal(code, 1);
  assert.deepEqual(JSON.parse(stdout), { sent: 0, dropped: 45, rejected: 0, template: '/v1/items/:id' });
});

test('live_app without a DSN says how to run it', async () => {
  const { code, stderr } = await run('express', '');
  assert.equal(code, 2);
  assert.match(stderr, /usage: SENTINEL_DSN=/);
});
