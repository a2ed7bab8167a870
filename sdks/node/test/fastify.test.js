'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { createSensor, sentinelFastify } = require('..');
const { startReceiver, until, request, muteWarnings } = require('./helpers/receiver');

async function start(app) {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${app.server.address().port}`;
}

for (const name of ['fastify', 'fastify4']) {
  const Fastify = require(name);
  const major = require(`${name}/package.json`).version.split('.')[0];

  test(`Fastify ${major}: hooks apply app-wide; route templates with prefixes, 404s, status and tenant header`, async (t) => {
    const rx = await startReceiver();
    t.after(() => rx.close());
    const sensor = createSensor({ dsn: rx.dsn(), flushIntervalMs: 60_000 });
    t.after(() => sensor.close(100));

    const app = Fastify();
    t.after(() => app.close());
    // Registered like any plugin: without skip-override its hooks would only see its own context.
    app.register(sentinelFastify, { sensor });
    app.get('/v1/items/:id', async (req, reply) => reply.code(Number(req.params.id) > 2 ? 200 : 500).send('item'));
    app.get('/slow', async () => {
      await new Promise((r) => setTimeout(r, 40));
      return 'late';
    });
    app.register(
      async (api) => {
        api.post('/orders/:orderId/lines/:line', async (req, reply) => reply.code(201).send('made'));
        api.get('/', async () => 'root');
      },
      { prefix: '/api/v2' },
    );
    const base = await start(app);
    assert.equal(app.sentinelSensor, sensor);

    assert.equal(await request(`${base}/v1/items/1`, { 'x-tenant-id': 'acme' }), 500);
    assert.equal(await request(`${base}/v1/items/7?x=1`, { 'x-tenant-id': 'beta' }), 200);
    assert.equal(await request(`${base}/api/v2/orders/9f2c/lines/3`, { 'x-tenant-id': 'acme' }, 'POST'), 201);
    assert.equal(await request(`${base}/api/v2`), 200);
    assert.equal(await request(`${base}/nope/12345/3f2a9c1e-0b7d-4e55-9a51-2c7d7e6b1f00?q=1`), 404);
    assert.equal(await request(`${base}/slow`), 200);

    await until(() => sensor.stats().queued === 6);
    assert.equal(await sensor.flush(2000), true);
    const got = rx.records();
    assert.deepEqual(
      got.map((r) => [r.tenant_id, r.method, r.endpoint, r.status_code]),
      [
        ['acme', 'GET', '/v1/items/:id', 500],
        ['beta', 'GET', '/v1/items/:id', 200],
        ['acme', 'POST', '/api/v2/orders/:orderId/lines/:line', 201],
        [null, 'GET', '/api/v2', 200],
        [null, 'GET', '/nope/:id/:id', 404],
        [null, 'GET', '/slow', 200],
      ],
    );
    assert.ok(got[5].latency_ms >= 35, `latency from request start to finish: ${got[5].latency_ms}`);
    assert.deepEqual(sensor.stats(), { sent: 6, dropped: 0, rejected: 0, queued: 0, errors: 0 });
  });

  test(`Fastify ${major}: options create a sensor with a tenant function, closed with the server`, async (t) => {
    const rx = await startReceiver();
    t.after(() => rx.close());
    const app = Fastify();
    app.register(sentinelFastify, {
      dsn: rx.dsn(),
      flushIntervalMs: 60_000,
      tenant: (request) => request.headers.host && request.query.org,
    });
    app.get('/health', async () => 'ok');
    const base = await start(app);

    await request(`${base}/health?org=beta`, { 'x-tenant-id': 'ignored' });
    await request(`${base}/health`);
    await until(() => app.sentinelSensor.stats().queued === 2);
    // Closing the server flushes the sensor it created.
    await app.close();
    assert.deepEqual(rx.records().map((r) => [r.tenant_id, r.endpoint]), [['beta', '/health'], [null, '/health']]);
    assert.equal(app.sentinelSensor.stats().sent, 2);
  });

  test(`Fastify ${major}: a Sentinel that never answers slows no request; the queue drops past its bound`, async (t) => {
    const rx = await startReceiver(() => 'hang');
    t.after(() => rx.close());
    const sensor = createSensor({ dsn: rx.dsn(), maxQueue: 10, maxBatch: 4, flushIntervalMs: 5, timeoutMs: 10_000 });
    const app = Fastify();
    t.after(() => app.close());
    app.register(sentinelFastify, sensor);
    app.get('/v1/items/:id', async () => 'ok');
    const base = await start(app);
    muteWarnings(t);

    const started = Date.now();
    for (let i = 0; i < 30; i++) assert.equal(await request(`${base}/v1/items/${i}`), 200);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 5000, `30 requests took ${elapsed} ms`);
    await rx.waitFor(() => rx.requests.length === 1);
    await until(() => sensor.stats().dropped === 20);
    assert.deepEqual(sensor.stats(), { sent: 0, dropped: 20, rejected: 0, queued: 10, errors: 0 });
    assert.equal(await sensor.close(50), false);
  });
}
