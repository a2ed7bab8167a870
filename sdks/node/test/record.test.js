'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parseDsn } = require('../lib/dsn');
const { normalizePath, joinRoute, toRecord } = require('../lib/record');

test('a DSN gives the key, the project and the batch endpoint, with any path prefix', () => {
  assert.deepEqual(parseDsn('http://abc123@127.0.0.1:9000/1'), {
    publicKey: 'abc123',
    projectId: '1',
    url: 'http://127.0.0.1:9000/api/1/requests/',
  });
  assert.equal(parseDsn('https://k_-9@sentinel.example.com/sentry/x/17/').url, 'https://sentinel.example.com/sentry/x/api/17/requests/');
  assert.equal(parseDsn('http://k:secret@[::1]:8080/3').url, 'http://[::1]:8080/api/3/requests/');
  assert.equal(parseDsn(' http://k@h:81/5?x=1 ').url, 'http://h:81/api/5/requests/');
});

test('a DSN without key, project id or http scheme is refused with what was expected', () => {
  for (const bad of ['', 'not a url', 'http://127.0.0.1:9000/1', 'http://k@h/', 'http://k@h/abc', 'ftp://k@h/1', 'http://k!@h/1']) {
    assert.throws(() => parseDsn(bad), /expected http\(s\):\/\/PUBLIC_KEY@host/, bad);
  }
});

test('raw paths lose their query and their id-like segments', () => {
  const cases = {
    '/v1/items/42?expand=1': '/v1/items/:id',
    '/v1/orders/3f2a9c1e-0b7d-4e55-9a51-2c7d7e6b1f00/lines/7': '/v1/orders/:id/lines/:id',
    '/blobs/0123456789abcdef0123': '/blobs/:id',
    '/customers/cus_NffrFeUfNV2Hib/cards': '/customers/:id/cards',
    '/objects/01ARZ3NDEKTSV4RRFFQ69G5FAV#top': '/objects/:id',
    '/v2/health': '/v2/health',
    '/very-long-but-plain-words': '/very-long-but-plain-words',
    '/deadbeef': '/deadbeef',
    '/': '/',
    '': '/',
    'relative/5': '/relative/:id',
  };
  for (const [raw, want] of Object.entries(cases)) assert.equal(normalizePath(raw), want, raw);
});

test('a mounted route joins its base path and its own path once', () => {
  assert.equal(joinRoute('', '/items/:id'), '/items/:id');
  assert.equal(joinRoute('/api', '/items/:id'), '/api/items/:id');
  assert.equal(joinRoute('/api', '/'), '/api');
  assert.equal(joinRoute('/api/', '/x'), '/api/x');
  assert.equal(joinRoute('/shops/123', '/x'), '/shops/:id/x');
  assert.equal(joinRoute('', '/'), '/');
});

test('records are cut to the server limits and refused only for an impossible status', () => {
  const long = 'é'.repeat(250);
  const r = toRecord({ tenant_id: long, endpoint: `  /${long} `, method: 'get', status_code: 503, latency_ms: 12.5, timestamp: 1800000000.123 });
  assert.equal(Array.from(r.tenant_id).length, 200);
  assert.equal(Array.from(r.endpoint).length, 200);
  assert.ok(r.endpoint.startsWith('/é'));
  assert.deepEqual({ ...r, tenant_id: 0, endpoint: 0 }, { tenant_id: 0, endpoint: 0, method: 'GET', status_code: 503, latency_ms: 12.5, timestamp: 1800000000.123 });

  const emoji = '😀'.repeat(150); // 300 UTF-16 units, 150 code points: kept whole
  assert.equal(toRecord({ tenant_id: emoji, endpoint: '/', status_code: 200, latency_ms: 1 }).tenant_id, emoji);

  const d = toRecord({ tenant_id: '', endpoint: '', method: 'M-SEARCH', status_code: 200, latency_ms: -3 });
  assert.equal(d.tenant_id, null);
  assert.equal(d.endpoint, '/');
  assert.equal(d.method, '');
  assert.equal(d.latency_ms, 0);
  assert.ok(Math.abs(d.timestamp - Date.now() / 1000) < 5);
  assert.equal(toRecord({ tenant_id: 7, endpoint: '/', status_code: 200, latency_ms: 5e9 }).latency_ms < 3_600_000, true);
  assert.equal(toRecord({ tenant_id: 7, endpoint: '/', status_code: 200, latency_ms: 1 }).tenant_id, '7');

  for (const status_code of [99, 600, 200.5, '200', undefined]) {
    assert.equal(toRecord({ endpoint: '/', status_code, latency_ms: 1 }), null, String(status_code));
  }
});
