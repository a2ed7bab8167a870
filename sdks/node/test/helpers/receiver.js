'use strict';

// A real HTTP receiver on 127.0.0.1 port 0 standing in for Sentinel's batch endpoint: it decodes
// each body (gzip included), keeps what arrived, and answers what the test tells it to.

const http = require('node:http');
const zlib = require('node:zlib');
const { once } = require('node:events');

/**
 * @param {(req: object, n: number) => ({status?: number, headers?: object, body?: any} | 'hang' | 'destroy' | undefined)} [answer]
 *   called for each request (`n` counts from 0); default: 200 with every record accepted.
 */
async function startReceiver(answer = () => undefined) {
  const requests = [];
  const waiters = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const gzipped = req.headers['content-encoding'] === 'gzip';
      const body = (gzipped ? zlib.gunzipSync(raw) : raw).toString('utf8');
      const got = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        rawLength: raw.length,
        gzipped,
        records: JSON.parse(body),
        at: Date.now(),
      };
      const n = requests.length;
      requests.push(got);
      for (const w of waiters) w();
      const a = answer(got, n);
      if (a === 'hang') return;
      if (a === 'destroy') {
        req.socket.destroy();
        return;
      }
      const status = a?.status ?? 200;
      const out = a?.body ?? { accepted: got.records.length, rejected: 0, errors: [] };
      res.writeHead(status, { 'content-type': 'application/json', ...(a?.headers ?? {}) });
      res.end(JSON.stringify(out));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return {
    port,
    requests,
    dsn: (prefix = '') => `http://testkey123@127.0.0.1:${port}${prefix}/42`,
    /** Every record received, in arrival order. */
    records: () => requests.flatMap((r) => r.records),
    /** Resolves once `predicate()` holds, checked on each arrival; rejects after `ms`. */
    waitFor(predicate, ms = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`receiver: condition not met within ${ms} ms (${requests.length} requests)`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A port nothing listens on: bound once, then released. */
async function closedPort() {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/** Resolves once `predicate()` holds, checking every few milliseconds; rejects after `ms`. */
async function until(predicate, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** GETs (or `method`s) `url` and reads the body; resolves to the status. */
async function request(url, headers = {}, method = 'GET') {
  const res = await fetch(url, { method, headers });
  await res.text();
  return res.status;
}

/** Silences console.warn for the rest of test `t`; returns the lines it would have printed. */
function muteWarnings(t) {
  const lines = [];
  const original = console.warn;
  console.warn = (...args) => lines.push(args.join(' '));
  t.after(() => {
    console.warn = original;
  });
  return lines;
}

module.exports = { startReceiver, closedPort, until, request, muteWarnings };
