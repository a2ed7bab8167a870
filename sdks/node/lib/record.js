'use strict';

// The request record and route naming: pure functions, no I/O, no clock except a record's
// default timestamp.

/** The server's limit for `endpoint` and `tenant_id`, in characters (code points). */
const MAX_NAME_CHARS = 200;
/** The server accepts latencies below one hour. */
const MAX_LATENCY_MS = 3_600_000 - 0.001;

const NUMBER = /^[0-9]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^[0-9a-f]{16,}$/i;
const TOKEN = /^[A-Za-z0-9_-]{16,}$/;
const METHOD = /^[A-Z]{1,16}$/;

function isId(segment) {
  return (
    NUMBER.test(segment) ||
    UUID.test(segment) ||
    HEX.test(segment) ||
    (TOKEN.test(segment) && /[0-9]/.test(segment) && /[A-Za-z]/.test(segment))
  );
}

/**
 * A route name for a raw path, used when the framework matched no route (404s): drops the query
 * string and fragment, and replaces each segment that looks like an identifier with `:id`
 * (numbers, UUIDs, hex of 16+ characters, and tokens of 16+ letters, digits, `-` or `_` mixing
 * letters and digits).
 *
 * @param {string} url
 * @returns {string}
 */
function normalizePath(url) {
  let path = String(url ?? '');
  const end = path.search(/[?#]/);
  if (end !== -1) path = path.slice(0, end);
  if (!path.startsWith('/')) path = `/${path}`;
  return path
    .split('/')
    .map((segment) => (isId(segment) ? ':id' : segment))
    .join('/');
}

/**
 * A mounted route's full template: Express's `req.baseUrl` (the actual path the router was
 * mounted at, so ids in it are normalized too) followed by the route's own path.
 *
 * @param {string} base
 * @param {string} route
 */
function joinRoute(base, route) {
  const prefix = base ? normalizePath(base).replace(/\/+$/, '') : '';
  if (!prefix) return route || '/';
  if (!route || route === '/') return prefix;
  return route.startsWith('/') ? prefix + route : `${prefix}/${route}`;
}

function truncate(s, max) {
  // UTF-16 length bounds the code point count, so only long strings need the slower count.
  if (s.length <= max) return s;
  const points = Array.from(s);
  return points.length <= max ? s : points.slice(0, max).join('');
}

/**
 * The wire record for an event, or `null` when its status can never be accepted. Names are
 * truncated to the server's limit, the method upper-cased (dropped when not letters), the latency
 * clamped to the accepted range and the timestamp defaulted to now.
 *
 * @param {{tenant_id?: string|number|null, endpoint?: string, method?: string,
 *          status_code: number, latency_ms: number, timestamp?: number}} evt
 */
function toRecord(evt) {
  const status = evt.status_code;
  if (!Number.isInteger(status) || status < 100 || status > 599) return null;
  let latency = Number(evt.latency_ms);
  if (!(latency >= 0)) latency = 0;
  if (latency > MAX_LATENCY_MS) latency = MAX_LATENCY_MS;
  const endpoint = truncate(String(evt.endpoint ?? '').trim(), MAX_NAME_CHARS) || '/';
  const tenant =
    evt.tenant_id == null || evt.tenant_id === '' ? null : truncate(String(evt.tenant_id), MAX_NAME_CHARS);
  const method = String(evt.method ?? '').toUpperCase();
  const timestamp = Number.isFinite(evt.timestamp) ? evt.timestamp : Date.now() / 1000;
  return {
    tenant_id: tenant,
    endpoint,
    method: METHOD.test(method) ? method : '',
    status_code: status,
    latency_ms: latency,
    timestamp,
  };
}

module.exports = { normalizePath, joinRoute, toRecord };
