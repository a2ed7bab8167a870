//! `sentinel-bench tenants`: request events through the batch endpoint (JSON arrays of a few
//! thousand records, each batch one durable inbox item) over several connections; then how long
//! until the worker has aggregated everything, how fast "top tenants now" answers, and the server's
//! CPU and memory. `--tenants` sets how many distinct tenants the stream spreads over (100,000 for
//! the ranking budget, 1,000,000 for the memory bound).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::Full;

use crate::drive::mib;
use crate::ingest::{CommonArgs, DbArgs};
use crate::procfs;
use crate::report::Table;
use crate::server::Server;

#[derive(Debug, Clone, clap::Args)]
pub struct TenantsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Distinct tenants in the stream
    #[arg(long, default_value_t = 100_000)]
    pub tenants: u64,
    /// Request events per batch
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    /// Batches to send
    #[arg(long, default_value_t = 400)]
    pub batches: u64,
    /// Concurrent connections
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Pace the stream at this many events per second (batch n leaves no earlier than
    /// n × batch / rate seconds after the start); 0 sends as fast as the server accepts
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Timed repetitions of each query
    #[arg(long, default_value_t = 20)]
    pub repeat: usize,
    #[command(flatten)]
    pub db: DbArgs,
}

const ENDPOINTS: [&str; 6] = [
    "/v1/process",
    "/v1/orders/{id}",
    "/v1/users/{id}",
    "/v1/reports",
    "/v1/search",
    "/health",
];

/// Batch `n` of the stream: tenants spread evenly over `tenants` (each batch its own slice, so
/// all of them appear), 1 % 5xx, and tenant_acme with a 5xx on /v1/process in every 20th record;
/// its timestamps in one of the last ten minutes (`n % 10` minutes ago), so a 10-minute window
/// reads ten minutes of rollups.
fn batch(n: u64, size: usize, tenants: u64, now_s: f64) -> Bytes {
    let mut out = String::with_capacity(size * 130);
    out.push('[');
    let now_s = now_s - (n % 10) as f64 * 60.0;
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in 0..size as u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if i > 0 {
            out.push(',');
        }
        let (tenant, endpoint, status) = if i % 20 == 0 {
            ("tenant_acme".to_owned(), "/v1/process", 500)
        } else {
            let t = (n * size as u64 + i) % tenants;
            let status = if x.is_multiple_of(100) { 503 } else { 200 };
            (format!("tenant_{t}"), ENDPOINTS[(x % 6) as usize], status)
        };
        let latency = 5.0 + (x % 2000) as f64 / 10.0;
        out.push_str(&format!(
            r#"{{"tenant_id":"{tenant}","endpoint":"{endpoint}","method":"GET","status_code":{status},"latency_ms":{latency:.1},"timestamp":{now_s:.3}}}"#
        ));
    }
    out.push(']');
    Bytes::from(out)
}

pub async fn run(args: TenantsArgs) -> anyhow::Result<()> {
    let c = &args.common;
    let server = Server::start(&c.server_bin, &c.work_dir, c.keep_data, &args.db.topology(0)).await?;
    let project = server.dsn.project_id;
    let key = server.dsn.public_key.clone();
    let now_s = crate::drive::wall_clock_ms()? as f64 / 1000.0;

    // Each batch is built by its sender just before it goes (reusing a few bodies would repeat
    // tenants); building overlaps the other connections' sends, and is part of the timed run.
    eprintln!(
        "sending {} batches of {} events over {} connections ({} tenants, {})…",
        args.batches,
        args.batch,
        args.connections,
        args.tenants,
        pace(args.rate)
    );
    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let cpu_before = server.cpu_time()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections.max(1) {
        let mut conn = server.connect().await?;
        let (next, accepted, key) = (next.clone(), accepted.clone(), key.clone());
        let (total, size, tenants, rate) = (args.batches, args.batch, args.tenants, args.rate);
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return anyhow::Ok(());
                }
                if rate > 0 {
                    let due = Duration::from_secs_f64((n * size as u64) as f64 / rate as f64);
                    tokio::time::sleep_until((started + due).into()).await;
                }
                let body = batch(n, size, tenants, now_s);
                let req = http::Request::builder()
                    .method(http::Method::POST)
                    .uri(format!("/api/{project}/requests/"))
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .header(
                        "x-sentry-auth",
                        format!("Sentry sentry_key={key}, sentry_version=7"),
                    )
                    .body(Full::new(body))?;
                let r = conn.send(req).await?;
                if r.status.as_u16() != 200 {
                    bail!("batch {n}: {} {}", r.status, String::from_utf8_lossy(&r.body));
                }
                let answer: serde_json::Value = serde_json::from_slice(&r.body)?;
                accepted.fetch_add(answer["accepted"].as_u64().unwrap_or(0), Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.context("a sending task")??;
    }
    let send_s = started.elapsed().as_secs_f64();
    let drained = server
        .wait_drained(Duration::from_secs(c.drain_timeout))
        .await?
        .context("the inbox did not drain in time")?;
    // The high-water mark of the load and its aggregation, before any query.
    let load_peak = procfs::memory(server.pid)?.peak;
    let total_s = started.elapsed().as_secs_f64();
    let cpu = server.cpu_time()? - cpu_before;
    let events = accepted.load(Ordering::Relaxed);

    let auth = format!("Bearer {}", server.token);
    let api = [("authorization", auth.as_str())];
    let mut timings = Vec::new();
    for (name, path) in [
        ("top tenants now by 5xx (10 min)", "tenants/?window=10m&by=errors"),
        (
            "top tenants by error rate (10 min)",
            "tenants/?window=10m&by=error_rate",
        ),
        (
            "top tenants by latency (10 min + 1 h baseline)",
            "tenants/?window=10m&by=latency",
        ),
        ("transactions (1 h)", "transactions/?window=1h"),
        (
            "one tenant's drill-down (10 min)",
            "tenants/tenant_acme/?window=10m",
        ),
    ] {
        let path = format!("/api/0/projects/{project}/{path}");
        let mut conn = server.connect().await?;
        let mut took = Vec::new();
        let mut body = Bytes::new();
        for _ in 0..args.repeat.max(1) {
            let t = Instant::now();
            let r = conn.get(&path, &api, Duration::from_secs(60)).await?;
            if !r.status.is_success() {
                bail!("GET {path}: {}", r.status);
            }
            took.push(t.elapsed().as_secs_f64() * 1000.0);
            body = r.body;
        }
        took.sort_by(f64::total_cmp);
        timings.push((
            name,
            took[took.len() / 2],
            took[(took.len() * 95 / 100).min(took.len() - 1)],
        ));
        if name.starts_with("top tenants now") {
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            eprintln!(
                "top by 5xx: {} with {:.1} % of {} 5xx (endpoint {}), {} requests counted",
                v["tenants"][0]["tenant"],
                v["tenants"][0]["share"].as_f64().unwrap_or(0.0) * 100.0,
                v["errors"],
                v["tenants"][0]["endpoint"],
                v["requests"]
            );
        }
    }
    let mem = procfs::memory(server.pid)?;
    let mut t = Table::new(&format!(
        "tenants: {} batches of {} request events, {} tenants, {} ({})",
        args.batches,
        args.batch,
        args.tenants,
        pace(args.rate),
        if server.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    ));
    t.row(
        "accepted (durable in the inbox)",
        format!(
            "{events} in {send_s:.1} s = {:.0} events/s",
            events as f64 / send_s
        ),
    );
    t.row(
        "aggregated (inbox drained)",
        format!(
            "{:.1} s after the last batch; {:.0} events/s end to end",
            drained.as_secs_f64(),
            events as f64 / total_s
        ),
    );
    t.row(
        "server CPU",
        format!(
            "{:.2} cores ({:.1} s)",
            cpu.as_secs_f64() / total_s,
            cpu.as_secs_f64()
        ),
    );
    t.row(
        "server RSS",
        format!(
            "peak {:.1} MiB while loading, {:.1} MiB with the queries; {:.1} MiB now",
            mib(load_peak),
            mib(mem.peak),
            mib(mem.rss)
        ),
    );
    for (name, p50, p95) in timings {
        t.row(&format!("{name}, ms"), format!("p50 {p50:.1}, p95 {p95:.1}"));
    }
    t.print();
    server.stop(Duration::from_secs(30)).await?;
    Ok(())
}

fn pace(rate: u64) -> String {
    match rate {
        0 => "unpaced".to_owned(),
        r => format!("paced at {r} events/s"),
    }
}
