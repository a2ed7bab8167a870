//! Errors of the shop's Node gateway (Express, TypeScript compiled to `/app/dist`) as
//! `@sentry/node` 9 sends them: Express and Node internals as library frames, the gateway's own
//! code in-app with seven lines of context, console and http breadcrumbs.

use serde_json::{Map, Value, json};

use super::Planned;
use super::event::fill;
use super::js::{self, Frame, Issue, frame};
use super::rng::Rng;

const LAYER: Frame = frame(
    "/app/node_modules/express/lib/router/layer.js",
    "Layer.handle [as handle_request]",
    95,
    5,
    "    fn(req, res, next);",
);
const ROUTE_DISPATCH: Frame = frame(
    "/app/node_modules/express/lib/router/route.js",
    "Route.dispatch",
    119,
    3,
    "  next();",
);
const ROUTE_NEXT: Frame = frame(
    "/app/node_modules/express/lib/router/route.js",
    "next",
    149,
    13,
    "      layer.handle_request(req, res, next);",
);
const TICKS: Frame = frame(
    "node:internal/process/task_queues",
    "process.processTicksAndRejections",
    105,
    5,
    "",
);
const AUTH: Frame = frame(
    "/app/dist/middleware/auth.js",
    "requireUser",
    31,
    19,
    "    const claims = jwt.verify(token, publicKey, { algorithms: ['RS256'] });",
);

pub(crate) static CART_TOTALS: Issue = Issue {
    ty: "TypeError",
    value: "Cannot read properties of undefined (reading 'currency')",
    mechanism: "auto.middleware.express",
    handled: false,
    method: "GET",
    route: "/api/cart/:cartId",
    frames: &[
        TICKS,
        ROUTE_DISPATCH,
        ROUTE_NEXT,
        LAYER,
        frame(
            "/app/dist/routes/cart.js",
            "getCartTotals",
            42,
            27,
            "    const totals = pricing.applyDiscounts(cart, req.customer);",
        ),
        frame(
            "/app/dist/services/pricing.js",
            "applyDiscounts",
            88,
            31,
            "  return lines.map((line) => money.format(line.total, cart.price.currency));",
        ),
    ],
};

pub(crate) static SHOP_API_502: Issue = Issue {
    ty: "AxiosError",
    value: "Request failed with status code 502",
    mechanism: "auto.middleware.express",
    handled: false,
    method: "GET",
    route: "/api/orders/:orderId",
    frames: &[
        TICKS,
        frame(
            "/app/dist/routes/orders.js",
            "getOrder",
            23,
            22,
            "    const order = await shopApi.fetchOrder(req.params.orderId, req.customer);",
        ),
        frame(
            "/app/dist/clients/shopApi.js",
            "ShopApiClient.fetchOrder",
            57,
            26,
            "    const { data } = await this.http.get(`/api/orders/${orderId}/`, { headers });",
        ),
        frame(
            "/app/node_modules/axios/lib/core/Axios.js",
            "Axios.request",
            45,
            41,
            "      throw err;",
        ),
        frame(
            "/app/node_modules/axios/lib/core/settle.js",
            "settle",
            19,
            12,
            "    reject(new AxiosError(",
        ),
    ],
};

pub(crate) static REDIS_REFUSED: Issue = Issue {
    ty: "Error",
    value: "connect ECONNREFUSED {ip}:6379",
    mechanism: "auto.middleware.express",
    handled: false,
    method: "GET",
    route: "/api/catalog/:slug",
    frames: &[
        TICKS,
        frame(
            "/app/dist/routes/catalog.js",
            "getProduct",
            35,
            30,
            "    const product = await cache.getCached(`product:${slug}`, () => shopApi.product(slug));",
        ),
        frame(
            "/app/dist/lib/cache.js",
            "getCached",
            18,
            24,
            "  const hit = await redis.get(key);",
        ),
        frame(
            "node:net",
            "TCPConnectWrap.afterConnect [as oncomplete]",
            1611,
            16,
            "",
        ),
    ],
};

pub(crate) static JWT_MALFORMED: Issue = Issue {
    ty: "JsonWebTokenError",
    value: "jwt malformed",
    mechanism: "auto.middleware.express",
    handled: false,
    method: "POST",
    route: "/api/checkout",
    frames: &[
        ROUTE_DISPATCH,
        ROUTE_NEXT,
        LAYER,
        AUTH,
        frame(
            "/app/node_modules/jsonwebtoken/verify.js",
            "module.exports [as verify]",
            70,
            17,
            "    return done(new JsonWebTokenError('jwt malformed'));",
        ),
    ],
};

pub(crate) static INVALID_TIME: Issue = Issue {
    ty: "RangeError",
    value: "Invalid time value",
    mechanism: "auto.middleware.express",
    handled: false,
    method: "GET",
    route: "/api/reports/:period",
    frames: &[
        TICKS,
        frame(
            "/app/dist/routes/reports.js",
            "getReport",
            51,
            20,
            "    const range = reports.periodRange(req.params.period, req.query.tz);",
        ),
        frame(
            "/app/dist/services/reports.js",
            "periodRange",
            112,
            38,
            "  return { from: start.toISOString(), to: end.toISOString() };",
        ),
        frame("<anonymous>", "Date.toISOString", 0, 0, ""),
    ],
};

pub(crate) static PARTNER_JSON: Issue = Issue {
    ty: "SyntaxError",
    value: "Unexpected token 'u', \"upstream c\"... is not valid JSON",
    mechanism: "auto.middleware.express",
    handled: false,
    method: "POST",
    route: "/api/shipping/quote",
    frames: &[
        TICKS,
        frame(
            "/app/dist/routes/shipping.js",
            "quote",
            29,
            24,
            "    const quote = await partners.quote(req.body, req.customer);",
        ),
        frame(
            "/app/dist/clients/partnerApi.js",
            "PartnerApi.quote",
            64,
            23,
            "    return JSON.parse(await response.text());",
        ),
        frame("<anonymous>", "JSON.parse", 0, 0, ""),
    ],
};

/// The incident: the shop API stops answering in time.
pub(crate) static SHOP_API_TIMEOUT: Issue = Issue {
    ty: "AxiosError",
    value: "timeout of 5000ms exceeded",
    mechanism: "auto.middleware.express",
    handled: false,
    method: "POST",
    route: "/api/checkout",
    frames: &[
        TICKS,
        frame(
            "/app/dist/routes/checkout.js",
            "placeOrder",
            77,
            28,
            "    const order = await shopApi.createOrder(cart, req.user, { idempotencyKey });",
        ),
        frame(
            "/app/dist/clients/shopApi.js",
            "ShopApiClient.createOrder",
            91,
            26,
            "    const { data } = await this.http.post('/api/orders/', body, { headers, timeout: 5000 });",
        ),
        frame(
            "/app/node_modules/axios/lib/adapters/http.js",
            "RedirectableRequest.handleRequestTimeout",
            660,
            16,
            "      reject(new AxiosError(timeoutErrorMessage, AxiosError.ECONNABORTED, config, req));",
        ),
    ],
};

/// Introduced by a deployment: the new profile route assumes every request is signed in.
pub(crate) static PROFILE_DESTRUCTURE: Issue = Issue {
    ty: "TypeError",
    value: "Cannot destructure property 'id' of 'req.user' as it is undefined.",
    mechanism: "auto.middleware.express",
    handled: false,
    method: "GET",
    route: "/api/account/profile",
    frames: &[
        ROUTE_DISPATCH,
        ROUTE_NEXT,
        LAYER,
        frame(
            "/app/dist/routes/account.js",
            "getProfile",
            14,
            13,
            "    const { id, customerId } = req.user;",
        ),
    ],
};

pub(crate) static WEBHOOK_SIGNATURE: Issue = Issue {
    ty: "WebhookSignatureError",
    value: "Signature mismatch for endpoint we_{hex}",
    mechanism: "generic",
    handled: true,
    method: "POST",
    route: "/hooks/payments",
    frames: &[
        TICKS,
        frame(
            "/app/dist/jobs/webhooks.js",
            "deliver",
            48,
            19,
            "      throw new WebhookSignatureError(`Signature mismatch for endpoint ${endpoint.id}`);",
        ),
    ],
};

pub(crate) static QUEUE_PAUSED: Issue = Issue {
    ty: "Error",
    value: "Queue 'emails' is paused",
    mechanism: "auto.node.onunhandledrejection",
    handled: false,
    method: "POST",
    route: "/api/account/password-reset",
    frames: &[
        TICKS,
        frame(
            "/app/dist/services/mailer.js",
            "enqueueMail",
            33,
            15,
            "  await queue.add('send', { template, to, data }, { attempts: 5 });",
        ),
        frame(
            "/app/node_modules/bullmq/dist/cjs/classes/queue.js",
            "Queue.add",
            143,
            19,
            "            throw new Error(`Queue '${this.name}' is paused`);",
        ),
    ],
};

const INTEGRATIONS: [&str; 16] = [
    "InboundFilters",
    "FunctionToString",
    "LinkedErrors",
    "RequestData",
    "Console",
    "Http",
    "NodeFetch",
    "OnUncaughtException",
    "OnUnhandledRejection",
    "ContextLines",
    "LocalVariablesAsync",
    "Context",
    "ChildProcess",
    "Modules",
    "Express",
    "Redis",
];

const MODULES: [(&str, &str); 10] = [
    ("@sentry/node", js::SDK_VERSION),
    ("express", "4.21.2"),
    ("axios", "1.8.4"),
    ("ioredis", "5.6.0"),
    ("jsonwebtoken", "9.0.2"),
    ("bullmq", "5.44.0"),
    ("pino", "9.6.0"),
    ("zod", "3.24.2"),
    ("dotenv", "16.4.7"),
    ("helmet", "8.1.0"),
];

/// What `@sentry/node` puts in `module`: the path below the app root (or package) with `/` as `.`
/// and the file name after a `:`.
fn module_of(file: &str) -> Option<String> {
    if let Some(internal) = file.strip_prefix("node:") {
        return Some(internal.rsplit('/').next().unwrap_or(internal).to_owned());
    }
    if !file.starts_with('/') {
        return None;
    }
    let rel = file
        .rsplit_once("/node_modules/")
        .map(|(_, r)| r)
        .or_else(|| file.strip_prefix("/app/dist/"))
        .unwrap_or(file);
    let rel = rel.strip_suffix(".js").unwrap_or(rel);
    Some(match rel.rsplit_once('/') {
        Some((dir, name)) => format!("{}:{name}", dir.replace('/', ".")),
        None => rel.to_owned(),
    })
}

fn frame_json(f: &Frame) -> Value {
    let in_app = f.file.starts_with("/app/") && !f.file.contains("/node_modules/");
    let mut v = Map::new();
    v.insert("filename".into(), json!(f.file));
    if let Some(module) = module_of(f.file) {
        v.insert("module".into(), json!(module));
    }
    v.insert("function".into(), json!(f.function));
    if f.lineno > 0 {
        v.insert("lineno".into(), json!(f.lineno));
        v.insert("colno".into(), json!(f.colno));
    }
    v.insert("in_app".into(), json!(in_app));
    // ContextLines reads files on disk: the app's and its packages', not Node's built-ins.
    if f.file.starts_with('/') && !f.line.is_empty() {
        let (pre, post) = js::context(f.file, f.lineno, 7);
        v.insert("pre_context".into(), json!(pre));
        v.insert("context_line".into(), json!(f.line));
        v.insert("post_context".into(), json!(post));
    }
    Value::Object(v)
}

fn breadcrumbs(issue: &Issue, at: &Planned<'_>, rng: &mut Rng, path: &str) -> Value {
    let n = rng.range(3, 7);
    let mut t = at.timestamp_ms - 900;
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        t += rng.range(5, 120) as i64;
        let crumb = match rng.below(3) {
            0 => json!({
                "timestamp": js::epoch_secs(t),
                "category": "console",
                "level": "log",
                "message": format!("{{\"level\":30,\"msg\":\"request started\",\"method\":\"{}\",\"url\":\"{path}\"}}", issue.method),
                "data": { "logger": "console" },
            }),
            1 => json!({
                "timestamp": js::epoch_secs(t),
                "type": "http",
                "category": "http",
                "data": {
                    "http.method": "GET",
                    "url": format!("http://shop-api.internal:8000/api/customers/{}/", rng.range(1_000, 99_999)),
                    "status_code": *rng.pick(&[200u16, 200, 200, 304, 404]),
                },
            }),
            _ => json!({
                "timestamp": js::epoch_secs(t),
                "category": "redis",
                "message": format!("GET session:{}", rng.hex(16)),
            }),
        };
        out.push(crumb);
    }
    Value::Array(out)
}

/// One event of `issue`.
pub(crate) fn build(issue: &Issue, event_id: &str, at: &Planned<'_>, rng: &mut Rng) -> Value {
    let customer = js::customer(rng);
    let user_id = rng.range(10_000, 999_999);
    let id = rng.range(1_000, 9_999_999);
    let path = issue
        .route
        .split('/')
        .map(|seg| {
            if seg.starts_with(':') {
                id.to_string()
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let frames: Vec<Value> = issue.frames.iter().map(frame_json).collect();
    let pod = format!("gateway-7c9f8d6b4-{}", rng.hex(5));
    let modules: Map<String, Value> = MODULES
        .iter()
        .map(|(name, version)| ((*name).to_owned(), json!(version)))
        .collect();
    json!({
        "event_id": event_id,
        "timestamp": js::epoch_secs(at.timestamp_ms),
        "platform": "node",
        "level": "error",
        "server_name": pod,
        "environment": at.environment,
        "release": at.release,
        "transaction": format!("{} {}", issue.method, issue.route),
        "exception": { "values": [{
            "type": issue.ty,
            "value": fill(issue.value, rng),
            "stacktrace": { "frames": frames },
            "mechanism": { "type": issue.mechanism, "handled": issue.handled },
        }]},
        "breadcrumbs": breadcrumbs(issue, at, rng, &path),
        "request": {
            "method": issue.method,
            "url": format!("https://gateway.shop.example{path}"),
            "query_string": "",
            "headers": {
                "host": "gateway.shop.example",
                "user-agent": *rng.pick(&USER_AGENTS),
                "accept": "application/json",
                "x-forwarded-for": format!("198.51.100.{}", rng.range(1, 254)),
                "x-request-id": rng.hex(32),
            },
        },
        "user": {
            "id": format!("u_{user_id}"),
            "email": format!("user{user_id}@{customer}.example"),
            "ip_address": format!("198.51.100.{}", rng.range(1, 254)),
        },
        "tags": { "customer": customer, "region": *rng.pick(&["eu-west-1", "us-east-1"]) },
        "contexts": {
            "trace": js::trace(rng, "http.server"),
            "runtime": { "name": "node", "version": "v22.14.0" },
            "os": { "name": "Linux", "kernel_version": "6.1.0-31-cloud-amd64" },
            "app": { "app_memory": rng.range(90_000_000, 400_000_000) },
            "device": { "arch": "x64", "processor_count": 4, "memory_size": 8_344_121_344u64 },
            "culture": { "locale": "en-US", "timezone": "UTC" },
        },
        "modules": modules,
        "sdk": {
            "name": "sentry.javascript.node",
            "version": js::SDK_VERSION,
            "integrations": INTEGRATIONS,
            "packages": [{ "name": "npm:@sentry/node", "version": js::SDK_VERSION }],
        },
    })
}

/// Apps and scripts calling the gateway.
const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Mobile/15E148 Safari/604.1",
    "ShopApp/5.12.0 (Android 14; Pixel 8)",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_are_named_the_way_the_node_sdk_names_them() {
        let m = |f| module_of(f).unwrap_or_default();
        assert_eq!(m("/app/dist/routes/cart.js"), "routes:cart");
        assert_eq!(
            m("/app/node_modules/express/lib/router/layer.js"),
            "express.lib.router:layer"
        );
        assert_eq!(m("node:internal/process/task_queues"), "task_queues");
        assert_eq!(module_of("<anonymous>"), None);
    }
}
