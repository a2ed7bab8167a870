'use strict';

// A real app instrumented by the sensor, for end-to-end tests against a real Sentinel:
//
//   SENTINEL_DSN=http://KEY@127.0.0.1:9000/1 node sdks/node/test/live_app.js express|fastify
//
// Starts the app on 127.0.0.1 port 0 and sends it real requests: tenant `acme` 30 to
// /v1/items/1…30 (route /v1/items/:id; items 1–20 answer 500), tenant `beta` 10 to /health,
// 5 without tenant to /health. Then flushes and prints one JSON line
// {"sent":45,"dropped":0,"rejected":0,"template":"/v1/items/:id"}; exits 0 only when all 45
// were accepted by Sentinel and every request was recorded under its template.

const { once } = require('node:events');
const { createSensor, sentinelExpress, sentinelFastify } = require('..');

const EXPECTED = 45;

function item(id) {
  return Number(id) <= 20 ? 500 : 200;
}

async function expressApp(sensor) {
  const express = require('express');
  const app = express();
  app.use(sentinelExpress(sensor));
  app.get('/v1/items/:id', (req, res) => res.status(item(req.params.id)).json({ id: req.params.id }));
  app.get('/health', (req, res) => res.json({ ok: true }));
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: server.address().port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

async function fastifyApp(sensor) {
  const app = require('fastify')();
  app.register(sentinelFastify, { sensor });
  app.get('/v1/items/:id', async (req, reply) => reply.code(item(req.params.id)).send({ id: req.params.id }));
  app.get('/health', async () => ({ ok: true }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: app.server.address().port, close: () => app.close() };
}

async function main() {
  const framework = process.argv[2];
  const apps = { express: expressApp, fastify: fastifyApp };
  if (!apps[framework] || !process.env.SENTINEL_DSN) {
    console.error('usage: SENTINEL_DSN=http://KEY@host:port/PROJECT node live_app.js express|fastify');
    return 2;
  }
  try {
    require.resolve(framework);
  } catch {
    console.error(`${framework} is not installed: run \`npm ci\` in ${require('node:path').dirname(__dirname)}`);
    return 2;
  }
  const sensor = createSensor({ dsn: process.env.SENTINEL_DSN });
  // Which endpoints the integration recorded, to show the template rather than raw paths.
  const endpoints = new Set();
  let recorded = 0;
  const record = sensor.record;
  sensor.record = (evt) => {
    recorded++;
    endpoints.add(evt.endpoint);
    return record(evt);
  };

  const app = await apps[framework](sensor);
  const base = `http://127.0.0.1:${app.port}`;
  const plan = [
    ...Array.from({ length: 30 }, (_, i) => ({ path: `/v1/items/${i + 1}`, tenant: 'acme', status: item(i + 1) })),
    ...Array.from({ length: 10 }, () => ({ path: '/health', tenant: 'beta', status: 200 })),
    ...Array.from({ length: 5 }, () => ({ path: '/health', tenant: null, status: 200 })),
  ];
  let wrong = 0;
  for (const { path, tenant, status } of plan) {
    const res = await fetch(base + path, { headers: tenant ? { 'x-tenant-id': tenant } : {} });
    await res.text();
    if (res.status !== status) {
      wrong++;
      console.error(`${path}: expected ${status}, got ${res.status}`);
    }
  }
  // Responses reach the client just before the server's 'finish'; wait for every record.
  const deadline = Date.now() + 5000;
  while (recorded < EXPECTED && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const flushed = await sensor.flush(15_000);
  await app.close();
  await sensor.close(1000);

  const { sent, dropped, rejected } = sensor.stats();
  const templates = [...endpoints].filter((e) => e.startsWith('/v1/items'));
  const template = templates.length === 1 ? templates[0] : templates.join(',');
  console.log(JSON.stringify({ sent, dropped, rejected, template }));
  const ok =
    flushed &&
    wrong === 0 &&
    recorded === EXPECTED &&
    sent === EXPECTED &&
    dropped === 0 &&
    rejected === 0 &&
    template === '/v1/items/:id' &&
    endpoints.size === 2;
  return ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
