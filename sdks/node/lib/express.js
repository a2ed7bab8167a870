'use strict';

const { joinRoute, normalizePath } = require('./record');
const { resolveSensor, observe, countError } = require('./observe');

/**
 * The route template Express matched (`req.baseUrl` + `req.route.path`), or the normalized raw
 * path when no route matched or its path is not a string (a RegExp or an array of paths).
 */
function expressEndpoint(req) {
  const route = req.route;
  if (route && typeof route.path === 'string') return joinRoute(req.baseUrl, route.path);
  return normalizePath(req.originalUrl ?? req.url);
}

/**
 * Express middleware recording every request at `res.on('finish')`. Mount it first.
 *
 * @param {import('../index').Sensor | import('../index').SensorOptions | {sensor: import('../index').Sensor}} sensorOrOptions
 */
function sentinelExpress(sensorOrOptions) {
  const { sensor } = resolveSensor(sensorOrOptions);
  function sentinelSensor(req, res, next) {
    try {
      const start = process.hrtime.bigint();
      res.once('finish', () => {
        try {
          observe(sensor, req, expressEndpoint(req), req.method, res.statusCode, start);
        } catch {
          countError(sensor);
        }
      });
    } catch {
      countError(sensor);
    }
    next();
  }
  sentinelSensor.sensor = sensor;
  return sentinelSensor;
}

module.exports = { sentinelExpress, expressEndpoint };
