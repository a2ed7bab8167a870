//! Errors of the shop's storefront (React, built with webpack) as `@sentry/react` 9 sends them,
//! with the in-app frames shown the way Sentry shows them once source maps are applied (original
//! file, function and lines; Sentinel does not apply source maps itself) and the vendor bundle's
//! frames unresolved. Browser and OS arrive as contexts, as Relay derives them from the
//! User-Agent, so they become the `browser` and `os` tags.

use serde_json::{Map, Value, json};

use super::Planned;
use super::event::fill;
use super::js::{self, Frame, Issue, frame};
use super::rng::{Rng, mix};

const ORIGIN: &str = "https://shop.example.com";

const RENDER: [Frame; 3] = [
    frame("static/js/vendors", "performUnitOfWork", 2, 84_213, ""),
    frame("static/js/vendors", "beginWork", 2, 61_877, ""),
    frame("static/js/vendors", "renderWithHooks", 2, 39_010, ""),
];
const EFFECTS: [Frame; 2] = [
    frame("static/js/vendors", "flushPassiveEffects", 2, 98_402, ""),
    frame("static/js/vendors", "commitHookEffectListMount", 2, 79_115, ""),
];

pub(crate) static PRODUCT_PRICE: Issue = Issue {
    ty: "TypeError",
    value: "Cannot read properties of undefined (reading 'price')",
    mechanism: "auto.browser.global_handlers.onerror",
    handled: false,
    method: "",
    route: "/products/:slug",
    frames: &[
        RENDER[0],
        RENDER[1],
        RENDER[2],
        frame(
            "src/components/ProductGrid.tsx",
            "ProductGrid",
            58,
            21,
            "        <ProductCard key={p.id} product={p} variant={variants[p.id]} />",
        ),
        frame(
            "src/components/ProductCard.tsx",
            "ProductCard",
            34,
            44,
            "  const label = formatPrice(variant.price, locale, currency);",
        ),
    ],
};

pub(crate) static FAILED_TO_FETCH: Issue = Issue {
    ty: "TypeError",
    value: "Failed to fetch",
    mechanism: "auto.browser.global_handlers.onunhandledrejection",
    handled: false,
    method: "",
    route: "/cart",
    frames: &[
        frame("static/js/vendors", "window.fetch", 2, 12_077, ""),
        frame(
            "src/hooks/useCart.ts",
            "refresh",
            27,
            26,
            "    const cart = await api.get<Cart>(`/api/cart/${cartId}`);",
        ),
        frame(
            "src/api/client.ts",
            "request",
            41,
            28,
            "  const response = await fetch(`${baseUrl}${path}`, { ...init, headers, credentials: 'include' });",
        ),
    ],
};

/// Old tabs asking for chunks a deployment removed: Sentry's built-in rule groups them all into one
/// issue, whatever the chunk.
pub(crate) static CHUNK_LOAD: Issue = Issue {
    ty: "ChunkLoadError",
    value: "Loading chunk {n} failed.\n(error: https://shop.example.com/static/js/{n}.{hex}.chunk.js)",
    mechanism: "auto.browser.global_handlers.onunhandledrejection",
    handled: false,
    method: "",
    route: "/checkout",
    frames: &[
        frame(
            "src/routes.tsx",
            "loadCheckout",
            19,
            35,
            "const Checkout = lazy(() => import('./pages/Checkout'));",
        ),
        frame("static/js/runtime", "__webpack_require__.e", 1, 4_410, ""),
        frame("static/js/runtime", "__webpack_require__.f.j", 1, 5_733, ""),
    ],
};

pub(crate) static SAFARI_ITEMS: Issue = Issue {
    ty: "TypeError",
    value: "undefined is not an object (evaluating 't.items.length')",
    mechanism: "auto.browser.global_handlers.onerror",
    handled: false,
    method: "",
    route: "/",
    frames: &[
        RENDER[0],
        RENDER[1],
        RENDER[2],
        frame(
            "src/components/CartDrawer.tsx",
            "CartDrawer",
            22,
            9,
            "      <CartBadge count={cart.items.length} />",
        ),
    ],
};

pub(crate) static HTML_NOT_JSON: Issue = Issue {
    ty: "SyntaxError",
    value: "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
    mechanism: "auto.browser.global_handlers.onunhandledrejection",
    handled: false,
    method: "",
    route: "/orders/:orderId/status",
    frames: &[
        frame(
            "src/pages/OrderStatus.tsx",
            "load",
            31,
            20,
            "    const status = await api.get<OrderStatus>(`/api/orders/${orderId}/status`);",
        ),
        frame(
            "src/api/client.ts",
            "parseJson",
            63,
            15,
            "  return (await response.json()) as T;",
        ),
    ],
};

pub(crate) static LOCAL_STORAGE: Issue = Issue {
    ty: "SecurityError",
    value: "Failed to read the 'localStorage' property from 'Window': Access is denied for this document.",
    mechanism: "auto.browser.global_handlers.onerror",
    handled: false,
    method: "",
    route: "/",
    frames: &[
        frame(
            "src/App.tsx",
            "App",
            17,
            37,
            "  const [prefs, setPrefs] = useState(() => storage.loadPreferences());",
        ),
        frame(
            "src/lib/storage.ts",
            "loadPreferences",
            9,
            20,
            "  const raw = window.localStorage.getItem(PREFS_KEY);",
        ),
    ],
};

/// Browser noise without a stack trace: grouped by type and message.
pub(crate) static RESIZE_OBSERVER: Issue = Issue {
    ty: "Error",
    value: "ResizeObserver loop completed with undelivered notifications.",
    mechanism: "auto.browser.global_handlers.onerror",
    handled: false,
    method: "",
    route: "/products/:slug",
    frames: &[],
};

pub(crate) static NON_ERROR_REJECTION: Issue = Issue {
    ty: "UnhandledRejection",
    value: "Non-Error promise rejection captured with value: Object Not Found Matching Id:{n}, MethodName:update, ParamCount:4",
    mechanism: "auto.browser.global_handlers.onunhandledrejection",
    handled: false,
    method: "",
    route: "/checkout",
    frames: &[],
};

/// Introduced by a deployment: the checkout mounts the payment widget before its container exists.
pub(crate) static PAYMENT_WIDGET: Issue = Issue {
    ty: "TypeError",
    value: "Cannot read properties of null (reading 'addEventListener')",
    mechanism: "auto.browser.global_handlers.onerror",
    handled: false,
    method: "",
    route: "/checkout",
    frames: &[
        EFFECTS[0],
        EFFECTS[1],
        frame(
            "src/pages/Checkout.tsx",
            "Checkout.useEffect",
            88,
            11,
            "    const unmount = mountPaymentWidget(containerRef.current, session);",
        ),
        frame(
            "src/lib/paymentWidget.ts",
            "mountPaymentWidget",
            26,
            13,
            "  container.addEventListener('payment:ready', onReady);",
        ),
    ],
};

/// The regression: fixed in one release, back in a later one.
pub(crate) static ORDER_ROWS: Issue = Issue {
    ty: "TypeError",
    value: "Cannot read properties of undefined (reading 'map')",
    mechanism: "auto.browser.global_handlers.onerror",
    handled: false,
    method: "",
    route: "/account/orders",
    frames: &[
        RENDER[0],
        RENDER[1],
        RENDER[2],
        frame(
            "src/pages/OrderHistory.tsx",
            "OrderHistory",
            47,
            14,
            "      <OrderRows orders={page.results} onSelect={openOrder} />",
        ),
        frame(
            "src/components/OrderRows.tsx",
            "OrderRows",
            12,
            22,
            "  const rows = orders.map((order) => <OrderRow key={order.id} order={order} />);",
        ),
    ],
};

/// Browser, its version, OS, OS version and User-Agent.
struct Client {
    browser: &'static str,
    version: &'static str,
    os: &'static str,
    os_version: &'static str,
    ua: &'static str,
}

const CLIENTS: [Client; 6] = [
    Client {
        browser: "Chrome",
        version: "134.0.0",
        os: "Windows",
        os_version: "10",
        ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36",
    },
    Client {
        browser: "Chrome",
        version: "134.0.0",
        os: "Mac OS X",
        os_version: "10.15.7",
        ua: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36",
    },
    Client {
        browser: "Chrome Mobile",
        version: "134.0.6998",
        os: "Android",
        os_version: "14",
        ua: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.6998.135 Mobile Safari/537.36",
    },
    Client {
        browser: "Edge",
        version: "134.0.0",
        os: "Windows",
        os_version: "10",
        ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36 Edg/134.0.0.0",
    },
    Client {
        browser: "Mobile Safari",
        version: "18.3",
        os: "iOS",
        os_version: "18.3",
        ua: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Mobile/15E148 Safari/604.1",
    },
    Client {
        browser: "Safari",
        version: "18.3",
        os: "Mac OS X",
        os_version: "10.15.7",
        ua: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Safari/605.1.15",
    },
];

/// A browser that words errors the way `issue` is worded: V8's messages come from Chromium
/// browsers, JavaScriptCore's from Safari.
fn client_for(issue: &Issue, rng: &mut Rng) -> &'static Client {
    let v8 = ["Cannot read properties", "Failed to", "Unexpected token"];
    let pool: &[Client] = if issue.value.starts_with("undefined is not an object") {
        &CLIENTS[4..]
    } else if v8.iter().any(|p| issue.value.starts_with(p)) {
        &CLIENTS[..4]
    } else {
        &CLIENTS
    };
    rng.pick(pool)
}

/// The webpack bundle name of a chunk in a release: its content hash changes with every release.
fn bundle_url(chunk: &str, release: &str) -> String {
    let h = mix(release
        .bytes()
        .chain(chunk.bytes())
        .fold(0x84_2225, |a, b| (a ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)));
    format!("{ORIGIN}/{chunk}.{:08x}.js", h as u32)
}

fn frame_json(f: &Frame, release: &str) -> Value {
    let mut v = Map::new();
    if f.file.starts_with("src/") {
        v.insert("filename".into(), json!(format!("./{}", f.file)));
        v.insert(
            "abs_path".into(),
            json!(format!("webpack://storefront/./{}", f.file)),
        );
        v.insert("function".into(), json!(f.function));
        v.insert("lineno".into(), json!(f.lineno));
        v.insert("colno".into(), json!(f.colno));
        let (pre, post) = js::context(f.file, f.lineno, 5);
        v.insert("pre_context".into(), json!(pre));
        v.insert("context_line".into(), json!(f.line));
        v.insert("post_context".into(), json!(post));
        v.insert("in_app".into(), json!(true));
    } else {
        let url = bundle_url(f.file, release);
        v.insert("filename".into(), json!(url));
        v.insert("abs_path".into(), json!(url));
        v.insert("function".into(), json!(f.function));
        v.insert("lineno".into(), json!(f.lineno));
        v.insert("colno".into(), json!(f.colno));
        v.insert("in_app".into(), json!(false));
    }
    Value::Object(v)
}

fn breadcrumbs(at: &Planned<'_>, rng: &mut Rng, page: &str) -> Value {
    let n = rng.range(4, 9);
    let mut t = at.timestamp_ms - 20_000;
    let mut out = Vec::with_capacity(n as usize);
    for k in 0..n {
        t += rng.range(200, 2_500) as i64;
        let crumb = if k == 0 {
            json!({
                "timestamp": js::epoch_secs(t),
                "category": "navigation",
                "data": { "from": *rng.pick(&["/", "/cart", "/products", "/account"]), "to": page },
            })
        } else {
            match rng.below(4) {
                0 => json!({
                    "timestamp": js::epoch_secs(t),
                    "category": "ui.click",
                    "message": *rng.pick(&[
                        "button.btn.btn-primary[data-testid=\"add-to-cart\"]",
                        "a.nav-link[href=\"/cart\"]",
                        "div.product-card > img",
                        "button#checkout-submit",
                        "input#coupon-code",
                    ]),
                }),
                1 | 2 => json!({
                    "timestamp": js::epoch_secs(t),
                    "type": "http",
                    "category": "fetch",
                    "data": {
                        "method": *rng.pick(&["GET", "GET", "POST"]),
                        "url": format!("https://gateway.shop.example/api/{}/{}", rng.pick(&["cart", "catalog", "orders", "account"]), rng.range(1_000, 999_999)),
                        "status_code": *rng.pick(&[200u16, 200, 200, 201, 404, 502]),
                    },
                }),
                _ => json!({
                    "timestamp": js::epoch_secs(t),
                    "category": "console",
                    "level": "warning",
                    "message": *rng.pick(&[
                        "Warning: Each child in a list should have a unique \"key\" prop.",
                        "[analytics] consent not given, dropping event",
                        "Slow network is detected. Fallback font will be used while loading",
                    ]),
                }),
            }
        };
        out.push(crumb);
    }
    Value::Array(out)
}

/// One event of `issue`.
pub(crate) fn build(issue: &Issue, event_id: &str, at: &Planned<'_>, rng: &mut Rng) -> Value {
    let client = client_for(issue, rng);
    let customer = js::customer(rng);
    let user_id = rng.range(10_000, 999_999);
    let page = issue
        .route
        .split('/')
        .map(|seg| match seg {
            ":slug" => format!(
                "{}-{}",
                rng.pick(&["linen-shirt", "oak-table", "desk-lamp", "wool-socks", "tea-set"]),
                rng.range(1, 400)
            ),
            s if s.starts_with(':') => rng.range(100_000, 999_999).to_string(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/");
    let page = if page.is_empty() { "/".to_owned() } else { page };
    let mut exception = Map::new();
    exception.insert("type".into(), json!(issue.ty));
    exception.insert("value".into(), json!(fill(issue.value, rng)));
    if !issue.frames.is_empty() {
        let frames: Vec<Value> = issue.frames.iter().map(|f| frame_json(f, at.release)).collect();
        exception.insert("stacktrace".into(), json!({ "frames": frames }));
    }
    exception.insert(
        "mechanism".into(),
        json!({ "type": issue.mechanism, "handled": issue.handled }),
    );
    json!({
        "event_id": event_id,
        "timestamp": js::epoch_secs(at.timestamp_ms),
        "platform": "javascript",
        "level": "error",
        "environment": at.environment,
        "release": at.release,
        "transaction": issue.route,
        "exception": { "values": [Value::Object(exception)] },
        "breadcrumbs": breadcrumbs(at, rng, &page),
        "request": {
            "url": format!("{ORIGIN}{page}"),
            "headers": {
                "User-Agent": client.ua,
                "Referer": format!("{ORIGIN}/"),
            },
        },
        "user": {
            "id": format!("u_{user_id}"),
            "email": format!("user{user_id}@{customer}.example"),
            "ip_address": "{{auto}}",
        },
        "tags": {
            "customer": customer,
            "locale": *rng.pick(&["en-US", "en-GB", "de-DE", "fr-FR", "nl-NL"]),
        },
        "contexts": {
            "trace": js::trace(rng, "pageload"),
            "browser": { "name": client.browser, "version": client.version },
            "os": { "name": client.os, "version": client.os_version },
            "react": { "version": "18.3.1" },
        },
        "sdk": {
            "name": "sentry.javascript.react",
            "version": js::SDK_VERSION,
            "integrations": [
                "InboundFilters", "FunctionToString", "BrowserApiErrors", "Breadcrumbs",
                "GlobalHandlers", "LinkedErrors", "Dedupe", "HttpContext", "BrowserSession",
                "BrowserTracing",
            ],
            "packages": [{ "name": "npm:@sentry/react", "version": js::SDK_VERSION }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_names_change_with_the_release_and_stay_within_one() {
        let a = bundle_url("static/js/vendors", "shop@3.18.0");
        assert_eq!(a, bundle_url("static/js/vendors", "shop@3.18.0"));
        assert_ne!(a, bundle_url("static/js/vendors", "shop@3.19.0"));
        assert!(a.starts_with("https://shop.example.com/static/js/vendors."));
    }

    #[test]
    fn safari_words_its_errors_differently_from_chrome() {
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            assert!(client_for(&SAFARI_ITEMS, &mut rng).browser.contains("Safari"));
            assert!(!client_for(&PRODUCT_PRICE, &mut rng).browser.contains("Safari"));
        }
    }
}
