//! Errors of the shop's ledger service (Rust: axum, tokio, sqlx) as the `sentry` crate 0.37 sends
//! them: panics from the panic integration (level fatal) and `anyhow` errors with their cause chain
//! from `sentry-anyhow`, with the backtrace's frames (no context lines: a release binary has no
//! source to read) and `tracing` breadcrumbs.

use serde_json::{Map, Value, json};

use super::Planned;
use super::event::fill;
use super::js::{self, epoch_secs};
use super::rng::Rng;

/// The `sentry` crate release the events imitate.
pub(crate) const SDK_VERSION: &str = "0.37.0";

const RUSTC_COMMIT: &str = "05f9846f893b09a1be1fc8560e33fc3c815cfecb";
const REGISTRY: &str = "/usr/local/cargo/registry/src/index.crates.io-1949cf8c6b5b557f";

/// One ledger error with its call path.
pub(crate) struct Issue {
    /// `(type, value)` from the root cause to the error reported; the last one gets the stack.
    pub chain: &'static [(&'static str, &'static str)],
    /// A panic (mechanism `panic`, level fatal) rather than a captured error.
    pub panic: bool,
    pub transaction: &'static str,
    /// Outermost first.
    pub frames: &'static [Frame],
}

/// A frame: the demangled function, and a path (`src/…` for the ledger's own code, `std/…` for the
/// standard library, `crate-version/…` for a dependency) with the line.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    pub function: &'static str,
    pub path: &'static str,
    pub lineno: u32,
}

const fn f(function: &'static str, path: &'static str, lineno: u32) -> Frame {
    Frame {
        function,
        path,
        lineno,
    }
}

/// A tokio worker thread polling a task, outermost first.
const WORKER: [Frame; 4] = [
    f(
        "std::sys::pal::unix::thread::Thread::new::thread_start",
        "std/src/sys/pal/unix/thread.rs",
        105,
    ),
    f(
        "tokio::runtime::scheduler::multi_thread::worker::Context::run_task",
        "tokio-1.44.2/src/runtime/scheduler/multi_thread/worker.rs",
        591,
    ),
    f(
        "tokio::runtime::task::harness::Harness<T,S>::poll",
        "tokio-1.44.2/src/runtime/task/harness.rs",
        151,
    ),
    f(
        "<tracing::instrument::Instrumented<T> as core::future::future::Future>::poll",
        "tracing-0.1.41/src/instrument.rs",
        321,
    ),
];

/// An axum handler future below the worker.
const HANDLER: Frame = f(
    "<axum::handler::future::IntoServiceFuture<F> as core::future::future::Future>::poll",
    "axum-0.8.3/src/handler/future.rs",
    49,
);

pub(crate) static RECONCILE_UNWRAP: Issue = Issue {
    chain: &[("panic", "called `Option::unwrap()` on a `None` value")],
    panic: true,
    transaction: "job nightly_reconciliation",
    frames: &[
        WORKER[0],
        WORKER[1],
        WORKER[2],
        WORKER[3],
        f(
            "ledger::jobs::nightly_reconciliation::{{closure}}",
            "src/jobs.rs",
            61,
        ),
        f("ledger::reconcile::match_payout", "src/reconcile.rs", 88),
        f("core::option::unwrap_failed", "core/src/option.rs", 2015),
        f("core::panicking::panic", "core/src/panicking.rs", 145),
    ],
};

pub(crate) static POOL_TIMED_OUT: Issue = Issue {
    chain: &[(
        "PoolTimedOut",
        "pool timed out while waiting for an open connection",
    )],
    panic: false,
    transaction: "GET /v1/balances/{account_id}",
    frames: &[
        WORKER[0],
        WORKER[1],
        WORKER[2],
        HANDLER,
        f(
            "ledger::api::balances::get_balance::{{closure}}",
            "src/api/balances.rs",
            37,
        ),
        f("ledger::db::Db::acquire::{{closure}}", "src/db.rs", 52),
    ],
};

pub(crate) static SETTLE_RATE_LIMITED: Issue = Issue {
    chain: &[
        (
            "reqwest::Error",
            "HTTP status client error (429 Too Many Requests) for url (https://api.bank.example/v2/payouts)",
        ),
        ("Error", "failed to settle payout po_{hex}"),
    ],
    panic: false,
    transaction: "job settle_payouts",
    frames: &[
        WORKER[0],
        WORKER[1],
        WORKER[2],
        WORKER[3],
        f(
            "ledger::settlement::worker::run::{{closure}}",
            "src/settlement/worker.rs",
            74,
        ),
        f(
            "ledger::settlement::settle_payout::{{closure}}",
            "src/settlement/mod.rs",
            119,
        ),
    ],
};

pub(crate) static REFUND_OVERFLOW: Issue = Issue {
    chain: &[("panic", "attempt to subtract with overflow")],
    panic: true,
    transaction: "POST /v1/refunds",
    frames: &[
        WORKER[0],
        WORKER[1],
        WORKER[2],
        HANDLER,
        f(
            "ledger::api::refunds::create_refund::{{closure}}",
            "src/api/refunds.rs",
            58,
        ),
        f(
            "<ledger::money::Amount as core::ops::arith::Sub>::sub",
            "src/money.rs",
            41,
        ),
        f(
            "core::panicking::panic_const::panic_const_sub_overflow",
            "core/src/panicking.rs",
            178,
        ),
    ],
};

/// The incident: the database drops connections.
pub(crate) static DB_CONNECTION_RESET: Issue = Issue {
    chain: &[(
        "Io",
        "error communicating with database: Connection reset by peer (os error 104)",
    )],
    panic: false,
    transaction: "POST /v1/transfers",
    frames: &[
        WORKER[0],
        WORKER[1],
        WORKER[2],
        HANDLER,
        f(
            "ledger::api::transfers::create_transfer::{{closure}}",
            "src/api/transfers.rs",
            83,
        ),
        f("ledger::db::Db::insert_transfer::{{closure}}", "src/db.rs", 140),
    ],
};

/// Introduced by a deployment: a customer without fee tiers.
pub(crate) static FEE_INDEX: Issue = Issue {
    chain: &[("panic", "index out of bounds: the len is 0 but the index is 0")],
    panic: true,
    transaction: "POST /v1/transfers",
    frames: &[
        WORKER[0],
        WORKER[1],
        WORKER[2],
        HANDLER,
        f(
            "ledger::api::transfers::create_transfer::{{closure}}",
            "src/api/transfers.rs",
            61,
        ),
        f("ledger::fees::tiered_fee", "src/fees.rs", 33),
        f(
            "core::panicking::panic_bounds_check",
            "core/src/panicking.rs",
            275,
        ),
    ],
};

pub(crate) static STATEMENT_DEADLINE: Issue = Issue {
    chain: &[
        ("Elapsed", "deadline has elapsed"),
        (
            "Error",
            "fetching the statement of account acct_{hex} from the bank",
        ),
    ],
    panic: false,
    transaction: "job fetch_statements",
    frames: &[
        WORKER[0],
        WORKER[1],
        WORKER[2],
        WORKER[3],
        f("ledger::jobs::fetch_statements::{{closure}}", "src/jobs.rs", 102),
        f(
            "ledger::clients::bank::BankClient::statement::{{closure}}",
            "src/clients/bank.rs",
            66,
        ),
    ],
};

fn frame_json(fr: &Frame, rng: &mut Rng) -> Value {
    let (abs_path, in_app) = if fr.path.starts_with("src/") {
        (format!("/build/ledger/{}", fr.path), true)
    } else if fr.path.starts_with("std/") || fr.path.starts_with("core/") {
        (format!("/rustc/{RUSTC_COMMIT}/library/{}", fr.path), false)
    } else {
        (format!("{REGISTRY}/{}", fr.path), false)
    };
    let filename = abs_path.rsplit('/').next().unwrap_or(&abs_path).to_owned();
    json!({
        "function": fr.function,
        "filename": filename,
        "abs_path": abs_path,
        "lineno": fr.lineno,
        "in_app": in_app,
        "instruction_addr": format!("0x55d{:09x}", rng.below(0x1_0000_0000)),
    })
}

/// `tracing` events that precede the error.
const MESSAGES: [&str; 4] = [
    "processing batch {n} ({n} entries)",
    "acquired connection in {n} ms",
    "retrying request to bank (attempt {n})",
    "account acct_{hex} balance refreshed",
];

fn breadcrumbs(issue: &Issue, at: &Planned<'_>, rng: &mut Rng) -> Value {
    let target = issue
        .frames
        .iter()
        .rev()
        .find(|fr| fr.path.starts_with("src/"))
        .map_or("ledger", |fr| fr.function);
    let target = target.split("::").take(2).collect::<Vec<_>>().join("::");
    let n = rng.range(2, 6);
    let mut t = at.timestamp_ms - 3_000;
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        t += rng.range(10, 600) as i64;
        let message = *rng.pick(&MESSAGES);
        out.push(json!({
            "timestamp": epoch_secs(t),
            "type": "default",
            "category": target,
            "level": *rng.pick(&["info", "info", "debug", "warning"]),
            "message": fill(message, rng),
        }));
    }
    Value::Array(out)
}

/// One event of `issue`.
pub(crate) fn build(issue: &Issue, event_id: &str, at: &Planned<'_>, rng: &mut Rng) -> Value {
    let mut values: Vec<Value> = Vec::with_capacity(issue.chain.len());
    for (k, (ty, value)) in issue.chain.iter().enumerate() {
        let mut ex = Map::new();
        ex.insert("type".into(), json!(ty));
        ex.insert("value".into(), json!(fill(value, rng)));
        if k + 1 == issue.chain.len() {
            let frames: Vec<Value> = issue.frames.iter().map(|fr| frame_json(fr, rng)).collect();
            ex.insert("stacktrace".into(), json!({ "frames": frames }));
            if issue.panic {
                ex.insert("mechanism".into(), json!({ "type": "panic", "handled": false }));
            }
        }
        values.push(Value::Object(ex));
    }
    json!({
        "event_id": event_id,
        "timestamp": epoch_secs(at.timestamp_ms),
        "platform": "native",
        "level": if issue.panic { "fatal" } else { "error" },
        "server_name": format!("ledger-{}", rng.below(3)),
        "environment": at.environment,
        "release": at.release,
        "transaction": issue.transaction,
        "exception": { "values": values },
        "breadcrumbs": { "values": breadcrumbs(issue, at, rng) },
        "tags": { "customer": js::customer(rng) },
        "contexts": {
            "os": { "type": "os", "name": "Linux", "version": "12", "kernel_version": "6.1.0-31-cloud-amd64" },
            "rust": { "type": "runtime", "name": "rustc", "version": "1.86.0", "channel": "stable" },
            "device": { "type": "device", "family": "unix", "arch": "x86_64" },
            "trace": js::trace(rng, if issue.transaction.starts_with("job ") { "queue.task" } else { "http.server" }),
        },
        "sdk": {
            "name": "sentry.rust",
            "version": SDK_VERSION,
            "integrations": ["attach-stacktrace", "contexts", "panic", "process-stacktrace", "tracing"],
            "packages": [{ "name": "cargo:sentry", "version": SDK_VERSION }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ledgers_own_frames_are_in_app() {
        let mut rng = Rng::new(1);
        let frames: Vec<Value> = FEE_INDEX
            .frames
            .iter()
            .map(|fr| frame_json(fr, &mut rng))
            .collect();
        let in_app: Vec<&str> = frames
            .iter()
            .filter(|v| v["in_app"] == true)
            .map(|v| v["function"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            in_app,
            [
                "ledger::api::transfers::create_transfer::{{closure}}",
                "ledger::fees::tiered_fee"
            ]
        );
        assert_eq!(
            frames[0]["abs_path"],
            format!("/rustc/{RUSTC_COMMIT}/library/std/src/sys/pal/unix/thread.rs")
        );
        assert_eq!(frames[5]["filename"], "fees.rs");
    }
}
