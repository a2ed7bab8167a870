'use strict';

const { createSensor } = require('./lib/sensor');
const { sentinelExpress } = require('./lib/express');
const { sentinelFastify } = require('./lib/fastify');
const { normalizePath } = require('./lib/record');

module.exports = { createSensor, sentinelExpress, sentinelFastify, normalizePath };
