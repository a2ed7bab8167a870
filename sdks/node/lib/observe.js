'use strict';

// What the Express middleware and the Fastify plugin share: which sensor to use, and how a
// finished request becomes a record.

const { createSensor, kError, tenantFromHeader } = require('./sensor');

/**
 * A sensor given as is (or as `{sensor}`), or created from options; `owned` when created here,
 * so the integration may close it.
 */
function resolveSensor(arg) {
  if (arg && typeof arg.record === 'function') return { sensor: arg, owned: false };
  if (arg && arg.sensor && typeof arg.sensor.record === 'function') return { sensor: arg.sensor, owned: false };
  return { sensor: createSensor(arg ?? {}), owned: true };
}

function countError(sensor) {
  if (typeof sensor[kError] === 'function') sensor[kError]();
}

/**
 * Records one finished request. The tenant is read now, at response finish, so it may come from
 * anything the application set on the request while handling it (an authenticated user, say).
 */
function observe(sensor, req, endpoint, method, status, startNs) {
  let tenant = null;
  try {
    const value = (sensor.tenant ?? tenantFromHeader)(req);
    if (value != null && value !== '') tenant = String(value);
  } catch {
    countError(sensor);
  }
  sensor.record({
    tenant_id: tenant,
    endpoint,
    method,
    status_code: status,
    latency_ms: Number(process.hrtime.bigint() - startNs) / 1e6,
    timestamp: Date.now() / 1000,
  });
}

module.exports = { resolveSensor, observe, countError };
