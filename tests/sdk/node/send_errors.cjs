// Sends a known mix of errors, a message and a traced span to Sentinel with the official
// @sentry/node SDK. Driven by crates/sentinel/tests/sdk_compat.rs; run it with NODE_PATH pointing
// at the node_modules that scripts/test installs (.sdk/node/node_modules):
//
//   SENTRY_DSN=http://KEY@127.0.0.1:PORT/1 NODE_PATH=.sdk/node/node_modules node send_errors.cjs
//
// What it sends (the test asserts the resulting issues):
//   * 2 x Error("payment declined") thrown on the same line of chargeCard(), tenants acme, globex
//   * 1 x TypeError from renderInvoice() (reading a property of undefined), tenant acme
//   * 1 x warning message "Disk quota exceeded", tenant initech
// all with environment "sdk-compat" and release "shop@2.0.0"; and, with tracing on, a "checkout"
// span with a child span, which SDK 11 sends as a span v2 container (`span` item).
//
// Afterwards it prints one line "SENTINEL_SUMMARY {json}" on stdout with what the SDK itself
// recorded: every envelope sent (item types, status, rate-limit header) through a wrapper around
// the SDK's own Node transport, and every dropped event the client or transport recorded for its
// client reports. It exits 1 if anything was dropped, refused or left unsent.
'use strict';

const Sentry = require('@sentry/node');

const sends = [];
const dropped = [];
const sentEvents = [];

function recordingTransport(options) {
  const inner = Sentry.makeNodeTransport({
    ...options,
    recordDroppedEvent(reason, category, quantity = 1) {
      dropped.push({ where: 'transport', reason, category, quantity });
      return options.recordDroppedEvent(reason, category, quantity);
    },
  });
  return {
    send(envelope) {
      const entry = { types: envelope[1].map(([header]) => header.type) };
      sends.push(entry);
      return inner.send(envelope).then(
        (response) => {
          entry.status = response.statusCode;
          entry.rate_limits = (response.headers && response.headers['x-sentry-rate-limits']) || null;
          return response;
        },
        (error) => {
          entry.error = String(error);
          throw error;
        },
      );
    },
    flush: (timeout) => inner.flush(timeout),
  };
}

function chargeCard(amount) {
  if (amount > 0) {
    throw new Error('payment declined');
  }
}

function renderInvoice(invoice) {
  return invoice.customer.name;
}

function withTenant(tenant, capture) {
  Sentry.withScope((scope) => {
    scope.setTag('tenant_id', tenant);
    capture();
  });
}

async function main() {
  Sentry.init({
    dsn: process.env.SENTRY_DSN,
    environment: 'sdk-compat',
    release: 'shop@2.0.0',
    tracesSampleRate: 1.0,
    transport: recordingTransport,
    // Puts the SDK's own log on the console, which the test shows when it fails.
    debug: true,
  });
  const client = Sentry.getClient();
  const recordDroppedEvent = client.recordDroppedEvent.bind(client);
  client.recordDroppedEvent = (reason, category, quantity = 1) => {
    dropped.push({ where: 'client', reason, category, quantity });
    return recordDroppedEvent(reason, category, quantity);
  };
  client.on('afterSendEvent', (event, response) => {
    sentEvents.push({ event_id: event.event_id, type: event.type || 'error', status: response && response.statusCode });
  });

  // Interleaved so that the Dedupe integration, which drops an exception identical to the one
  // just before it, lets both "payment declined" errors through.
  for (const tenant of ['acme', 'globex']) {
    try {
      chargeCard(10);
    } catch (e) {
      withTenant(tenant, () => Sentry.captureException(e));
    }
    if (tenant === 'acme') {
      try {
        renderInvoice({});
      } catch (e) {
        withTenant('acme', () => Sentry.captureException(e));
      }
    }
  }
  withTenant('initech', () => Sentry.captureMessage('Disk quota exceeded', 'warning'));

  Sentry.startSpan({ name: 'checkout', op: 'task' }, () => {
    Sentry.startSpan({ name: 'load cart', op: 'db' }, () => JSON.stringify({ items: [1, 2, 3] }));
  });

  const flushed = await Sentry.flush(10000);

  const problems = [];
  if (!flushed) problems.push('Sentry.flush(10000) timed out: events were left unsent');
  if (dropped.length > 0) problems.push(`the SDK recorded dropped events: ${JSON.stringify(dropped)}`);
  for (const s of sends) {
    if (s.error) problems.push(`request failed: ${JSON.stringify(s)}`);
    else if (s.status === undefined) problems.push(`no response: ${JSON.stringify(s)}`);
    else if (s.status < 200 || s.status >= 300) problems.push(`server answered ${s.status}: ${JSON.stringify(s)}`);
    if (s.rate_limits) problems.push(`server sent X-Sentry-Rate-Limits: ${JSON.stringify(s)}`);
  }

  const summary = {
    sdk: Sentry.SDK_VERSION,
    events_sent: sentEvents,
    sends,
    dropped,
    problems,
  };
  console.log('SENTINEL_SUMMARY ' + JSON.stringify(summary));
  await Sentry.close(2000);
  process.exitCode = problems.length > 0 ? 1 : 0;
}

main().catch((e) => {
  console.error('send_errors.cjs crashed:', e);
  process.exitCode = 1;
});
