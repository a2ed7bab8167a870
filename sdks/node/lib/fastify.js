'use strict';

const { normalizePath } = require('./record');
const { resolveSensor, observe, countError } = require('./observe');

/**
 * The route template Fastify matched (with any register prefix), or the normalized raw path when
 * no route matched (the 404 handler).
 */
function fastifyEndpoint(request) {
  // Old Fastify 4 releases have only `routerPath`, deprecated once `routeOptions` came.
  const template = request.routeOptions ? request.routeOptions.url : request.routerPath;
  return typeof template === 'string' && template !== '' ? template : normalizePath(request.url);
}

/**
 * Fastify plugin recording every request in an `onResponse` hook. Options: a sensor, `{sensor}`,
 * or sensor options (the plugin then creates the sensor and closes it with the server).
 *
 * Marked with `skip-override` (what `fastify-plugin` does) so the hooks apply to the whole
 * application rather than to the plugin's own encapsulated context.
 */
function sentinelFastify(fastify, options, done) {
  let resolved;
  try {
    resolved = resolveSensor(options);
  } catch (err) {
    done(err);
    return;
  }
  const { sensor, owned } = resolved;
  const starts = new WeakMap();
  fastify.addHook('onRequest', (request, reply, next) => {
    starts.set(request, process.hrtime.bigint());
    next();
  });
  fastify.addHook('onResponse', (request, reply, next) => {
    try {
      const start = starts.get(request);
      if (start !== undefined) {
        observe(sensor, request, fastifyEndpoint(request), request.method, reply.statusCode, start);
      }
    } catch {
      countError(sensor);
    }
    next();
  });
  if (owned) {
    fastify.addHook('onClose', (instance, next) => {
      sensor.close().then(() => next(), () => next());
    });
  }
  if (!fastify.hasDecorator('sentinelSensor')) fastify.decorate('sentinelSensor', sensor);
  done();
}

sentinelFastify[Symbol.for('skip-override')] = true;
sentinelFastify[Symbol.for('fastify.display-name')] = '@sentinel-monitor/sensor';
sentinelFastify[Symbol.for('plugin-meta')] = { name: '@sentinel-monitor/sensor' };

module.exports = { sentinelFastify, fastifyEndpoint };
