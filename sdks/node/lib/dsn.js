'use strict';

// DSN parsing: pure, no I/O. Mirrors the server's `dsn_key_and_project` (sentinel-protocol's
// auth.rs): `scheme://PUBLIC_KEY[:secret]@host[:port][/prefix]/PROJECT_ID`.

const KEY = /^[A-Za-z0-9_-]+$/;
const PROJECT = /^[0-9]+$/;

/**
 * @param {string} dsn
 * @returns {{publicKey: string, projectId: string, url: string}} `url` is the batch endpoint.
 */
function parseDsn(dsn) {
  const expected = 'expected http(s)://PUBLIC_KEY@host[:port][/prefix]/PROJECT_ID';
  let u;
  try {
    u = new URL(String(dsn).trim());
  } catch {
    throw new TypeError(`sentinel sensor: the DSN is not a URL; ${expected}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TypeError(`sentinel sensor: the DSN's scheme must be http or https; ${expected}`);
  }
  const publicKey = decodeURIComponent(u.username);
  if (!KEY.test(publicKey)) {
    throw new TypeError(`sentinel sensor: the DSN has no public key before '@'; ${expected}`);
  }
  const segments = u.pathname.replace(/\/+$/, '').split('/');
  const projectId = segments.pop();
  if (!PROJECT.test(projectId)) {
    throw new TypeError(`sentinel sensor: the DSN does not end with a numeric project id; ${expected}`);
  }
  const prefix = segments.join('/');
  return { publicKey, projectId, url: `${u.protocol}//${u.host}${prefix}/api/${projectId}/requests/` };
}

module.exports = { parseDsn };
