//! What Node and browser events share: the shape of an issue (a JavaScript error with a fixed call
//! path), context lines, customers and the sentry-javascript SDK identity.

use serde_json::{Value, json};

use super::rng::{Rng, mix};

/// The sentry-javascript release the Node and browser events imitate.
pub(crate) const SDK_VERSION: &str = "9.10.0";

/// One JavaScript error with its call path: every event of it lands in the same issue.
pub(crate) struct Issue {
    pub ty: &'static str,
    /// The message; `{n}`, `{hex}`, `{ip}` and `{word}` vary per event.
    pub value: &'static str,
    /// `exception.mechanism.type`, e.g. `auto.middleware.express` or `auto.browser.global_handlers.onerror`.
    pub mechanism: &'static str,
    pub handled: bool,
    /// HTTP method (Node) or `""` (browser page).
    pub method: &'static str,
    /// Route pattern: the transaction name.
    pub route: &'static str,
    /// Outermost first.
    pub frames: &'static [Frame],
}

/// One stack frame: where (a path, or a bundle chunk for the browser), the function and the line
/// of source it was executing.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    pub file: &'static str,
    pub function: &'static str,
    pub lineno: u32,
    pub colno: u32,
    pub line: &'static str,
}

pub(crate) const fn frame(
    file: &'static str,
    function: &'static str,
    lineno: u32,
    colno: u32,
    line: &'static str,
) -> Frame {
    Frame {
        file,
        function,
        lineno,
        colno,
        line,
    }
}

/// Lines around the one that failed; which ones depends only on the file and line number.
const SOURCE_LINES: [&str; 32] = [
    "  const { data } = await client.get(url, { params });",
    "  if (!result) {",
    "    return null;",
    "  }",
    "  logger.debug({ requestId: req.id }, 'cache miss');",
    "  const items = cart.items ?? [];",
    "  return res.status(200).json(body);",
    "  } catch (err) {",
    "    next(err);",
    "  const started = performance.now();",
    "  const headers = { 'x-request-id': requestId };",
    "  await cache.set(key, JSON.stringify(value), 'EX', 300);",
    "  const total = items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0);",
    "  return { ...state, loading: false };",
    "  useEffect(() => {",
    "  }, [cartId]);",
    "  const [open, setOpen] = useState(false);",
    "  if (process.env.NODE_ENV !== 'production') {",
    "  const locale = navigator.language || 'en-US';",
    "  metrics.increment('checkout.step', { step });",
    "  export default function Page() {",
    "  const params = new URLSearchParams(window.location.search);",
    "  for (const line of order.lines) {",
    "  throw new HttpError(response.status, await response.text());",
    "  const user = await users.findById(userId);",
    "  return formatter.format(amount / 100);",
    "  });",
    "  ",
    "  // Keep the old field for clients that have not reloaded since the last release.",
    "  const signature = createHmac('sha256', secret).update(payload).digest('hex');",
    "  emit('change', { id, value });",
    "  return () => controller.abort();",
];

/// `n` lines before and after, stable for a file and line.
pub(crate) fn context(file: &str, lineno: u32, n: usize) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut h = mix(u64::from(lineno)
        ^ file.bytes().fold(0xcbf2_9ce4_8422_2325, |a, b| {
            (a ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }));
    let mut line = || {
        h = mix(h.wrapping_add(1));
        SOURCE_LINES[(h % SOURCE_LINES.len() as u64) as usize]
    };
    let pre = (0..n).map(|_| line()).collect();
    let post = (0..n).map(|_| line()).collect();
    (pre, post)
}

/// Companies using the shop, most traffic from a few big ones.
pub(crate) const CUSTOMERS: [&str; 16] = [
    "acme-retail",
    "northwind",
    "globex",
    "initech",
    "umbrella-foods",
    "hooli",
    "stark-outfitters",
    "wayne-home",
    "cyberdyne-parts",
    "soylent-market",
    "tyrell-garden",
    "wonka-sweets",
    "oceanic-travel",
    "gringotts-finance",
    "duff-beverages",
    "vandelay-imports",
];

/// A customer, skewed towards the first ones.
pub(crate) fn customer(rng: &mut Rng) -> &'static str {
    let i = (rng.unit().powi(2) * CUSTOMERS.len() as f64) as usize;
    CUSTOMERS[i.min(CUSTOMERS.len() - 1)]
}

/// Seconds since the epoch with millisecond precision, as sentry-javascript and sentry-rust send
/// `timestamp`.
pub(crate) fn epoch_secs(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// A W3C trace context (`contexts.trace`) for an event inside a request or page load.
pub(crate) fn trace(rng: &mut Rng, op: &str) -> Value {
    json!({
        "trace_id": rng.hex(32),
        "span_id": rng.hex(16),
        "parent_span_id": rng.hex(16),
        "op": op,
        "status": "internal_error",
    })
}
