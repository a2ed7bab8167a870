//! `sentinel-bench uptime`: many HTTP monitors against a local target for a bounded time, then
//! whether every slot ran, how late checks started after their slot (scheduling lag), the
//! server's CPU and memory, and how fast the monitor list and detail answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::Full;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::drive::mib;
use crate::ingest::{CommonArgs, DbArgs};
use crate::procfs;
use crate::report::Table;
use crate::server::Server;

#[derive(Debug, Clone, clap::Args)]
pub struct UptimeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// HTTP monitors to create
    #[arg(long, default_value_t = 10_000)]
    pub monitors: usize,
    /// Their check interval, seconds
    #[arg(long, default_value_t = 30)]
    pub interval: u64,
    /// How long they run after the last one was created, seconds
    #[arg(long, default_value_t = 150)]
    pub duration: u64,
    /// Timed repetitions of each query
    #[arg(long, default_value_t = 20)]
    pub repeat: usize,
    #[command(flatten)]
    pub db: DbArgs,
}

/// A plain HTTP target: answers every request `200 ok` and closes; counts requests.
async fn target(hits: Arc<AtomicU64>) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let hits = hits.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                hits.fetch_add(1, Ordering::Relaxed);
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(addr.to_string())
}

fn post_json(path: &str, token: &str, body: &Value) -> anyhow::Result<http::Request<Full<Bytes>>> {
    Ok(http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(Bytes::from(serde_json::to_vec(body)?)))?)
}

fn ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Times `repeat` GETs of `path` (with `headers`) on one keep-alive connection: p50 and p95 in ms.
async fn time_get(
    server: &Server,
    path: &str,
    headers: &[(&str, &str)],
    repeat: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut conn = server.connect().await?;
    let mut took = Vec::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let r = conn.get(path, headers, Duration::from_secs(60)).await?;
        if !r.status.is_success() {
            bail!("GET {path}: {}", r.status);
        }
        took.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    Ok((
        took[took.len() / 2],
        took[(took.len() * 95 / 100).min(took.len() - 1)],
    ))
}

pub async fn run(args: UptimeArgs) -> anyhow::Result<()> {
    let c = &args.common;
    let hits = Arc::new(AtomicU64::new(0));
    let target = target(hits.clone()).await?;
    let server = Server::start(&c.server_bin, &c.work_dir, c.keep_data, &args.db.topology(0)).await?;
    let project = server.dsn.project_id;
    let token = server.token.clone();

    // Create the monitors over 8 connections.
    let created_at = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut conn = server.connect().await?;
        let next = next.clone();
        let (token, target) = (token.clone(), target.clone());
        let total = args.monitors as u64;
        let interval = args.interval;
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(());
                }
                let body = json!({"type": "http", "name": format!("target {i}"),
                    "url": format!("http://{target}/health?m={i}"), "interval_seconds": interval});
                let r = conn
                    .send(post_json(
                        &format!("/api/0/projects/{project}/monitors/"),
                        &token,
                        &body,
                    )?)
                    .await?;
                if r.status.as_u16() != 201 {
                    bail!(
                        "creating monitor {i}: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("a creating task")??;
    }
    let create_s = created_at.elapsed().as_secs_f64();
    eprintln!(
        "created {} monitors in {create_s:.1} s; running for {} s…",
        args.monitors, args.duration
    );

    let cpu_before = server.cpu_time()?;
    let hits_before = hits.load(Ordering::Relaxed);
    let run_started_ms = crate::drive::wall_clock_ms()?;
    let started = Instant::now();
    let mut peak_rss = 0u64;
    while started.elapsed() < Duration::from_secs(args.duration) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        peak_rss = peak_rss.max(procfs::memory(server.pid)?.peak);
    }
    let run_s = started.elapsed().as_secs_f64();
    let cpu = server.cpu_time()? - cpu_before;
    let run_hits = hits.load(Ordering::Relaxed) - hits_before;
    let rss = procfs::memory(server.pid)?.rss;

    // Query timings while the checks go on.
    let cookie = server.sign_in().await?;
    let auth = format!("Bearer {token}");
    let api = [("authorization", auth.as_str())];
    let list = time_get(
        &server,
        &format!("/api/0/projects/{project}/monitors/?limit=100"),
        &api,
        args.repeat,
    )
    .await?;
    let detail = time_get(&server, "/api/0/monitors/1/", &api, args.repeat).await?;
    let times = time_get(&server, "/api/0/monitors/1/response-times/", &api, args.repeat).await?;
    let page = time_get(
        &server,
        "/orgs/default/projects/bench/monitors/",
        &[("cookie", cookie.as_str())],
        args.repeat,
    )
    .await?;
    let monitor_page = time_get(
        &server,
        "/orgs/default/monitors/1/",
        &[("cookie", cookie.as_str())],
        args.repeat,
    )
    .await?;

    // Every monitor's results: lag from slot to start, and gaps (missed slots).
    let interval_ms = args.interval as i64 * 1000;
    let mut lags = Vec::new();
    let (mut missed, mut without_checks, mut failed) = (0u64, 0u64, 0u64);
    let mut conn = server.connect().await?;
    for id in 1..=args.monitors {
        let r = conn
            .get(
                &format!("/api/0/monitors/{id}/checks/?limit=100"),
                &api,
                Duration::from_secs(60),
            )
            .await?;
        let checks: Vec<Value> = serde_json::from_slice(&r.body).context("parsing checks")?;
        let mut slots: Vec<i64> = Vec::new();
        for ch in &checks {
            let (Some(slot), Some(start)) = (
                ch["slot"].as_str().and_then(ms),
                ch["started"].as_str().and_then(ms),
            ) else {
                continue;
            };
            if slot >= run_started_ms {
                lags.push(start - slot);
            }
            if ch["ok"] != true {
                failed += 1;
            }
            slots.push(slot);
        }
        if slots.is_empty() {
            without_checks += 1;
        }
        slots.sort_unstable();
        missed += slots
            .windows(2)
            .map(|w| ((w[1] - w[0]) / interval_ms - 1).max(0) as u64)
            .sum::<u64>();
    }
    lags.sort_unstable();
    let mem = procfs::memory(server.pid)?;
    let mut t = Table::new(&format!(
        "uptime: {} HTTP monitors every {} s ({})",
        args.monitors,
        args.interval,
        if server.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    ));
    t.row(
        "monitors created",
        format!("{:.0}/s ({create_s:.1} s)", args.monitors as f64 / create_s),
    );
    t.row(
        "checks during the run",
        format!(
            "{run_hits} in {run_s:.0} s = {:.0}/s (expected {:.0}/s)",
            run_hits as f64 / run_s,
            args.monitors as f64 / args.interval as f64
        ),
    );
    t.row("checks that failed", failed.to_string());
    t.row("slots missed (gaps in a monitor's results)", missed.to_string());
    t.row("monitors without a check", without_checks.to_string());
    t.row(
        "lag slot → check start, ms",
        format!(
            "p50 {}, p95 {}, p99 {}, max {} (n = {})",
            pct(&lags, 0.5),
            pct(&lags, 0.95),
            pct(&lags, 0.99),
            lags.last().copied().unwrap_or(0),
            lags.len()
        ),
    );
    t.row(
        "server CPU during the run",
        format!(
            "{:.2} cores ({:.1} s)",
            cpu.as_secs_f64() / run_s,
            cpu.as_secs_f64()
        ),
    );
    t.row(
        "server RSS",
        format!(
            "{:.1} MiB (peak seen {:.1} MiB)",
            mib(mem.rss),
            mib(peak_rss.max(rss))
        ),
    );
    for (name, (p50, p95)) in [
        ("API monitors list (100), ms", list),
        ("API monitor detail (24h–90d uptime, p50/p95), ms", detail),
        ("API response times (24 h series), ms", times),
        ("page: monitors list (50), ms", page),
        ("page: monitor, ms", monitor_page),
    ] {
        t.row(name, format!("p50 {p50:.1}, p95 {p95:.1}"));
    }
    t.print();
    server.stop(Duration::from_secs(30)).await?;
    Ok(())
}
