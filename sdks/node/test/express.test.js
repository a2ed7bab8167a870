'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { once } = require('node:events');
const { createSensor, sentinelExpress } = require('..');
const { startReceiver, closedPort, until, request, muteWarnings } = require('./helpers/receiver');

async function listen(app) {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { base: `http://127.0.0.1:${server.address().port}`, close: () => { server.closeAllConnections(); server.close(); } };
}

for (const name of ['express', 'express4']) {
  const express = require(name);
  const major = require(`${name}/package.json`).version.split('.')[0];

  test(`Express ${major}: route templates, mounted routers, 404s, status, method, latency and tenant header`, async (t) => {
    const rx = await startReceiver();
    t.after(() => rx.close());
    const sensor = createSensor({ dsn: rx.dsn(), flushIntervalMs: 60_000 });
    t.after(() => sensor.close(100));

    const app = express();
    app.use(sentinelExpress(sensor));
    app.get('/v1/items/:id', (req, res) => res.status(Number(req.params.id) > 2 ? 200 : 503).send('item'));
    app.get('/slow', (req, res) => setTimeout(() => res.send('late'), 40));
    const orders = express.Router();
    orders.get('/', (req, res) => res.send('list'));
    orders.post('/:orderId/lines/:line', (req, res) => res.status(201).send('made'));
    const v2 = express.Router();
    v2.use('/orders', orders);
    app.use('/api/v2', v2);
    const { base, close } = await listen(app);
    t.after(close);

    assert.equal(await request(`${base}/v1/items/1`, { 'x-tenant-id': 'acme' }), 503);
    assert.equal(await request(`${base}/v1/items/7?x=1`, { 'x-tenant-id': 'beta' }), 200);
    assert.equal(await request(`${base}/api/v2/orders/`), 200);
    assert.equal(await request(`${base}/api/v2/orders/9f2c/lines/3`, { 'x-tenant-id': 'acme' }, 'POST'), 201);
    assert.equal(await request(`${base}/nope/12345/0123456789abcdef01?q=1`), 404);
    assert.equal(await request(`${base}/slow`), 200);

    await until(() => sensor.stats().queued === 6);
    assert.equal(await sensor.flush(2000), true);
    const got = rx.records();
    assert.deepEqual(
      got.map((r) => [r.tenant_id, r.method, r.endpoint, r.status_code]),
      [
        ['acme', 'GET', '/v1/items/:id', 503],
        ['beta', 'GET', '/v1/items/:id', 200],
        [null, 'GET', '/api/v2/orders', 200],
        ['acme', 'POST', '/api/v2/orders/:orderId/lines/:line', 201],
        [null, 'GET', '/nope/:id/:id', 404],
        [null, 'GET', '/slow', 200],
      ],
    );
    assert.ok(got[5].latency_ms >= 35, `latency from request start to finish: ${got[5].latency_ms}`);
    assert.ok(got.every((r) => r.latency_ms >= 0 && r.timestamp > 1.7e9));
    assert.deepEqual(sensor.stats(), { sent: 6, dropped: 0, rejected: 0, queued: 0, errors: 0 });
  });

  test(`Express ${major}: the tenant option reads what the app set while handling the request`, async (t) => {
    const rx = await startReceiver();
    t.after(() => rx.close());
    const middleware = sentinelExpress({
      dsn: rx.dsn(),
      flushIntervalMs: 60_000,
      tenant: (req) => req.user?.org,
    });
    t.after(() => middleware.sensor.close(100));
    const app = express();
    app.use(middleware);
    app.use((req, res, next) => {
      req.user = { org: req.get('authorization')?.replace('Bearer ', '') };
      next();
    });
    app.get('/me', (req, res) => res.send('me'));
    const { base, close } = await listen(app);
    t.after(close);

    await request(`${base}/me`, { authorization: 'Bearer org-42', 'x-tenant-id': 'ignored' });
    await request(`${base}/me`);
    await until(() => middleware.sensor.stats().queued === 2);
    await middleware.sensor.flush(2000);
    assert.deepEqual(rx.records().map((r) => r.tenant_id), ['org-42', null]);
  });

  test(`Express ${major}: with Sentinel down the app answers at once and the sensor drops past its bound`, async (t) => {
    const port = await closedPort();
    const sensor = createSensor({ dsn: `http://k@127.0.0.1:${port}/1`, maxQueue: 10, flushIntervalMs: 5 });
    const app = express();
    app.use(sentinelExpress(sensor));
    app.get('/v1/items/:id', (req, res) => res.send('ok'));
    const { base, close } = await listen(app);
    t.after(close);
    muteWarnings(t);

    const started = Date.now();
    const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => request(`${base}/v1/items/${i}`)));
    const elapsed = Date.now() - started;
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.ok(elapsed < 5000, `30 requests took ${elapsed} ms`);
    await until(() => sensor.stats().dropped === 20);
    assert.equal(sensor.stats().queued, 10);
    assert.equal(await sensor.close(50), false);
  });
}
