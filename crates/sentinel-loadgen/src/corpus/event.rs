//! Builds one sentry-python 2.75 error event (the JSON an SDK's `capture_exception` sends from a
//! Django or Flask request handler).

use serde_json::{Map, Value, json};

use super::groups::{Framework, GroupSpec};
use super::rng::{Rng, mix};
use super::vocab::{
    ExceptionKind, INTEGRATIONS_DJANGO, INTEGRATIONS_FLASK, LibFrame, MODULES_COMMON, MODULES_DJANGO,
    MODULES_FLASK, REGIONS, SOURCE_LINES, USER_AGENTS, WORDS,
};
use super::{SDK_VERSION, rfc3339_micros};

/// Per-event values shared by several parts of the event.
pub(crate) struct EventCtx<'a> {
    pub spec: &'a GroupSpec,
    pub rng: Rng,
    pub event_id: &'a str,
    pub timestamp_ms: i64,
    pub release: &'a str,
    pub environment: &'static str,
    pub server_name: String,
    pub tenant: u64,
    pub user_id: u64,
    pub object_id: u64,
    pub trace_id: String,
    pub span_id: String,
}

/// Replaces `{n}`, `{hex}`, `{ip}` and `{word}` with per-event values, the way real messages carry
/// ids and numbers that Sentry's message parameterization normalizes.
pub(crate) fn fill(template: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (value, skip) = if after.starts_with("{n}") {
            (rng.range(2, 99_999).to_string(), 3)
        } else if after.starts_with("{hex}") {
            (rng.hex(12), 5)
        } else if after.starts_with("{ip}") {
            (rng.internal_ip(), 4)
        } else if after.starts_with("{word}") {
            ((*rng.pick(&WORDS)).to_owned(), 6)
        } else {
            ("{".to_owned(), 1)
        };
        out.push_str(&value);
        rest = &after[skip..];
    }
    out.push_str(rest);
    out
}

fn module_path(module: &str) -> String {
    let path = module.replace('.', "/");
    if module == "json" {
        format!("{path}/__init__.py")
    } else {
        format!("{path}.py")
    }
}

/// Five lines before and after, chosen by the file and line so a frame always shows the same code.
fn context(module: &str, lineno: u32) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut h = mix(u64::from(lineno)
        ^ module.bytes().fold(0xcbf2_9ce4_8422_2325, |a, b| {
            (a ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }));
    let mut line = || {
        h = mix(h.wrapping_add(1));
        SOURCE_LINES[(h % SOURCE_LINES.len() as u64) as usize]
    };
    let pre = (0..5).map(|_| line()).collect();
    let post = (0..5).map(|_| line()).collect();
    (pre, post)
}

fn lib_frame(f: &LibFrame, ctx: &mut EventCtx<'_>) -> Value {
    let filename = module_path(f.module);
    let stdlib = matches!(f.module.split('.').next(), Some("json" | "decimal"));
    let abs_path = if stdlib {
        format!("/usr/local/lib/python3.12/{filename}")
    } else {
        format!("/usr/local/lib/python3.12/site-packages/{filename}")
    };
    let (pre, post) = context(f.module, f.lineno);
    let spec = ctx.spec;
    let id = ctx.object_id;
    // Library frames show one to three locals, depending on the function.
    let mut vars = Map::new();
    for _ in 0..ctx.rng.range(1, 3) {
        match ctx.rng.below(4) {
            0 => vars.insert(
                "request".into(),
                json!(format!(
                    "<WSGIRequest: {} '/api/{}/{id}/'>",
                    spec.method, spec.area
                )),
            ),
            1 => vars.insert("kwargs".into(), json!(format!("{{'pk': '{id}'}}"))),
            2 => vars.insert("args".into(), json!("()")),
            _ => vars.insert(
                "self".into(),
                json!(format!("<{} object at 0x7f{}>", f.function, ctx.rng.hex(10))),
            ),
        };
    }
    json!({
        "filename": filename,
        "abs_path": abs_path,
        "function": f.function,
        "module": f.module,
        "lineno": f.lineno,
        "pre_context": pre,
        "context_line": format!("    {}", f.line),
        "post_context": post,
        "vars": vars,
        "in_app": false,
    })
}

fn app_frame(module: &str, function: &str, lineno: u32, line: &str, ctx: &mut EventCtx<'_>) -> Value {
    let filename = module_path(module);
    let (pre, post) = context(module, lineno);
    let spec = ctx.spec;
    let mut vars = Map::new();
    vars.insert(format!("{}_id", spec.noun), json!(ctx.object_id));
    vars.insert("tenant".into(), json!(format!("<Tenant: tenant-{}>", ctx.tenant)));
    let word = *ctx.rng.pick(&WORDS);
    vars.insert(
        word.into(),
        json!(format!("'{}-{}'", word, ctx.rng.range(1, 9999))),
    );
    if ctx.rng.chance(0.3) {
        vars.insert(
            "items".into(),
            json!(format!(
                "[<LineItem: {}>, <LineItem: {}>]",
                ctx.rng.range(1, 99_999),
                ctx.rng.range(1, 99_999)
            )),
        );
    }
    if ctx.rng.chance(0.3) {
        vars.insert(
            "total".into(),
            json!(format!(
                "Decimal('{}.{:02}')",
                ctx.rng.range(1, 9999),
                ctx.rng.below(100)
            )),
        );
    }
    json!({
        "filename": filename,
        "abs_path": format!("/srv/app/{filename}"),
        "function": function,
        "module": module,
        "lineno": lineno,
        "pre_context": pre,
        "context_line": format!("    {line}"),
        "post_context": post,
        "vars": vars,
        "in_app": true,
    })
}

fn exception_value(kind: &ExceptionKind, frames: Vec<Value>, mechanism: Value, rng: &mut Rng) -> Value {
    let mut v = json!({
        "type": kind.ty,
        "value": fill(kind.value, rng),
        "mechanism": mechanism,
        "stacktrace": { "frames": frames },
    });
    if let (Some(module), Some(obj)) = (kind.module, v.as_object_mut()) {
        obj.insert("module".into(), json!(module));
    }
    v
}

fn exception(ctx: &mut EventCtx<'_>) -> Value {
    let spec = ctx.spec;
    let mut frames = Vec::with_capacity(spec.frame_count());
    for f in spec.prefix {
        frames.push(lib_frame(f, ctx));
    }
    for f in &spec.app {
        frames.push(app_frame(&f.module, &f.function, f.lineno, &f.context_line, ctx));
    }
    for f in spec.exception.tail {
        frames.push(lib_frame(f, ctx));
    }
    let framework = spec.framework.name();
    let mut values = Vec::with_capacity(2);
    let main_mechanism = match spec.cause {
        Some(_) => json!({ "type": framework, "handled": false, "exception_id": 0 }),
        None => json!({ "type": framework, "handled": false }),
    };
    if let Some(cause) = spec.cause {
        // The cause was raised (and caught) in the crash site's own frame.
        let last = &spec.app[spec.app.len() - 1];
        let mut cause_frames = vec![app_frame(
            &last.module,
            &last.function,
            last.lineno + 3,
            cause.app_line,
            ctx,
        )];
        for f in cause.tail {
            cause_frames.push(lib_frame(f, ctx));
        }
        let mechanism = json!({ "type": "chained", "handled": true, "source": "__context__", "exception_id": 1, "parent_id": 0 });
        values.push(exception_value(cause, cause_frames, mechanism, &mut ctx.rng));
    }
    values.push(exception_value(
        spec.exception,
        frames,
        main_mechanism,
        &mut ctx.rng,
    ));
    json!({ "values": values })
}

fn breadcrumbs(ctx: &mut EventCtx<'_>) -> Value {
    let n = ctx.rng.range(8, 12);
    let spec = ctx.spec;
    let mut t = ctx.timestamp_ms - 1_500 - (n as i64) * 40;
    let mut values = Vec::with_capacity(n as usize);
    for _ in 0..n {
        t += ctx.rng.range(5, 80) as i64;
        let ts = rfc3339_micros(t);
        let crumb = match ctx.rng.below(5) {
            0 | 1 => json!({
                "type": "default",
                "category": "query",
                "message": format!(
                    "SELECT \"app_{noun}\".\"id\", \"app_{noun}\".\"status\" FROM \"app_{noun}\" WHERE \"app_{noun}\".\"id\" = %s LIMIT 21",
                    noun = spec.noun
                ),
                "data": {},
                "level": "info",
                "timestamp": ts,
            }),
            2 => json!({
                "type": "http",
                "category": "httplib",
                "data": {
                    "url": format!("https://api.partner-{}.example/v2/{}s/{}", ctx.rng.range(1, 40), spec.noun, ctx.rng.range(1, 999_999)),
                    "method": *ctx.rng.pick(&["GET", "POST"]),
                    "status_code": *ctx.rng.pick(&[200u16, 200, 201, 404, 502]),
                    "reason": "OK",
                    "http.query": "",
                    "http.fragment": "",
                },
                "level": "info",
                "timestamp": ts,
            }),
            3 => json!({
                "type": "redis",
                "category": "redis",
                "message": format!("GET 'tenant:{}:{}:{}'", ctx.tenant, spec.noun, ctx.rng.range(1, 999_999)),
                "data": { "redis.command": "GET", "redis.key": format!("tenant:{}:{}", ctx.tenant, spec.noun) },
                "level": "info",
                "timestamp": ts,
            }),
            _ => json!({
                "type": "log",
                "category": format!("app.{}.services", spec.area),
                "message": format!("{} {} for tenant {} took {} ms", spec.action, spec.noun, ctx.tenant, ctx.rng.range(1, 900)),
                "level": *ctx.rng.pick(&["info", "info", "warning"]),
                "logger": format!("app.{}.services", spec.area),
                "timestamp": ts,
            }),
        };
        values.push(crumb);
    }
    json!({ "values": values })
}

fn modules(framework: Framework) -> Value {
    let extra: &[(&str, &str)] = match framework {
        Framework::Django => &MODULES_DJANGO,
        Framework::Flask => &MODULES_FLASK,
    };
    let map: Map<String, Value> = MODULES_COMMON
        .iter()
        .chain(extra)
        .map(|(name, version)| ((*name).to_owned(), json!(version)))
        .collect();
    Value::Object(map)
}

fn sdk(framework: Framework) -> Value {
    let integrations: &[&str] = match framework {
        Framework::Django => &INTEGRATIONS_DJANGO,
        Framework::Flask => &INTEGRATIONS_FLASK,
    };
    json!({
        "name": format!("sentry.python.{}", framework.name()),
        "version": SDK_VERSION,
        "packages": [{ "name": "pypi:sentry-sdk", "version": SDK_VERSION }],
        "integrations": integrations,
    })
}

fn request(ctx: &mut EventCtx<'_>) -> Value {
    let spec = ctx.spec;
    let path = match spec.action {
        "list" | "create" => format!("/api/{}/", spec.area),
        _ => format!("/api/{}/{}/", spec.area, ctx.object_id),
    };
    let host = format!("tenant-{}.shop.example", ctx.tenant);
    let client_ip = format!("203.0.113.{}", ctx.rng.range(1, 254));
    let mut req = json!({
        "url": format!("https://{host}{path}"),
        "method": spec.method,
        "query_string": if spec.action == "list" { format!("page={}&page_size=50", ctx.rng.range(1, 40)) } else { String::new() },
        "headers": {
            "Host": host,
            "User-Agent": *ctx.rng.pick(&USER_AGENTS),
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate, br",
            "Content-Type": "application/json",
            "X-Forwarded-For": client_ip,
            "X-Forwarded-Proto": "https",
            "X-Request-Id": ctx.rng.hex(32),
            "Sentry-Trace": format!("{}-{}-1", ctx.trace_id, ctx.rng.hex(16)),
            "Authorization": "[Filtered]",
            "Cookie": "[Filtered]",
        },
        "env": { "SERVER_NAME": ctx.server_name, "SERVER_PORT": "8000", "REMOTE_ADDR": ctx.rng.internal_ip() },
    });
    if spec.method != "GET"
        && spec.method != "DELETE"
        && let Some(obj) = req.as_object_mut()
    {
        obj.insert(
            "data".into(),
            json!({
                format!("{}_id", spec.noun): ctx.object_id,
                "quantity": ctx.rng.range(1, 20),
                "currency": *ctx.rng.pick(&["EUR", "USD", "GBP"]),
                "note": format!("ref {}", ctx.rng.hex(8)),
            }),
        );
    }
    req
}

/// The complete event as sentry-python serializes it.
pub(crate) fn build(ctx: &mut EventCtx<'_>) -> Value {
    let spec = ctx.spec;
    let exception = exception(ctx);
    let breadcrumbs = breadcrumbs(ctx);
    let request = request(ctx);
    let framework = spec.framework;
    let region = *ctx.rng.pick(&REGIONS);
    json!({
        "event_id": ctx.event_id,
        "timestamp": rfc3339_micros(ctx.timestamp_ms),
        "level": "error",
        "platform": "python",
        "exception": exception,
        "breadcrumbs": breadcrumbs,
        "contexts": {
            "trace": {
                "trace_id": ctx.trace_id,
                "span_id": ctx.span_id,
                "parent_span_id": ctx.rng.hex(16),
                "op": "http.server",
                "status": "internal_error",
                "origin": format!("auto.http.{}", framework.name()),
                "data": { "thread.id": ctx.rng.range(139_000_000_000_000, 140_000_000_000_000).to_string(), "thread.name": "MainThread" },
            },
            "runtime": { "name": "CPython", "version": "3.12.9", "build": "3.12.9 (main, Feb 25 2025, 02:08:46) [GCC 12.2.0]" },
            "os": { "name": "Linux", "version": "6.1.0-31-cloud-amd64", "build": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.128-1 (2025-02-07)" },
        },
        "modules": modules(framework),
        "sdk": sdk(framework),
        "request": request,
        "user": {
            "id": ctx.user_id.to_string(),
            "email": format!("user{}@tenant-{}.example", ctx.user_id, ctx.tenant),
            "ip_address": "{{auto}}",
        },
        "tags": {
            "tenant_id": format!("tenant-{}", ctx.tenant),
            "region": region,
            "customer_tier": *ctx.rng.pick(&["free", "pro", "pro", "enterprise"]),
            "celery_queue": "default",
        },
        "transaction": spec.route(),
        "transaction_info": { "source": "route" },
        "server_name": ctx.server_name,
        "release": ctx.release,
        "environment": ctx.environment,
        "extra": {
            "sys.argv": ["/usr/local/bin/gunicorn", "app.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"],
            "request_id": ctx.rng.hex(32),
            "feature_flags": { "checkout_v2": ctx.rng.chance(0.5), "new_pricing": ctx.rng.chance(0.2) },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_every_placeholder_and_keeps_other_braces() {
        let mut rng = Rng::new(3);
        let s = fill("Task {hex} took {n}s on {ip} ({word}) {x}", &mut rng);
        assert!(!s.contains("{hex}") && !s.contains("{n}") && !s.contains("{ip}") && !s.contains("{word}"));
        assert!(s.ends_with("{x}"), "{s}");
    }

    #[test]
    fn context_is_the_same_for_the_same_file_and_line() {
        assert_eq!(context("app.orders.views", 10), context("app.orders.views", 10));
        assert_ne!(context("app.orders.views", 10), context("app.orders.views", 11));
    }
}
