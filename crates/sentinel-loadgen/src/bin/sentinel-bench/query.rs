//! `sentinel-bench query`: load many events (timestamps spread over the last day), let the worker
//! finish, then time the issue list and stats endpoints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sentinel_loadgen::corpus::{Compression, Corpus};
use sentinel_loadgen::load::{self, LoadOptions, OnShed, PoolSource, percentile_us};
use serde_json::{Value, json};

use crate::drive::{self, mib};
use crate::ingest::{CommonArgs, DbArgs, count_issues, stats_total};
use crate::procfs;
use crate::report::Table;
use crate::server::Server;

#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Events to load before timing queries
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Connections used for loading
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Envelopes built per loading round (memory: about 4 KB each)
    #[arg(long, default_value_t = 100_000)]
    pub chunk: u64,
    /// Timed repetitions of each query
    #[arg(long, default_value_t = 50)]
    pub repeat: usize,
    #[command(flatten)]
    pub db: DbArgs,
}

struct Timed {
    name: &'static str,
    path: String,
    latencies_us: Vec<u32>,
    statuses: Vec<u16>,
    bytes: usize,
}

pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let c = &args.common;
    let server = Server::start(&c.server_bin, &c.work_dir, c.keep_data, &args.db.topology(0)).await?;
    let target = drive::target(&server, Compression::Gzip(c.gzip_level))?;
    let now_ms = drive::wall_clock_ms()?;
    let corpus = Corpus::new(c.seed).with_timestamp_spread(Duration::from_secs(23 * 3600));
    let opts = LoadOptions {
        connections: args.connections,
        duration: None,
        on_shed: OnShed::Retry {
            max_attempts: 50,
            max_wait: Duration::from_secs(10),
        },
        request_timeout: Duration::from_secs(60),
        keep_accepted: false,
    };

    // Load in rounds: build a chunk on every core, send it, repeat. Bounded by `events`.
    let load_started = Instant::now();
    let (mut accepted, mut failed, mut build_s, mut send_s) = (0u64, 0u64, 0.0f64, 0.0f64);
    let mut first = 0u64;
    while first < args.events {
        let count = args.chunk.min(args.events - first);
        let corpus = corpus.clone();
        let compression = Compression::Gzip(c.gzip_level);
        let pool = tokio::task::spawn_blocking(move || {
            drive::build_pool(&corpus, first, count, now_ms, compression)
        })
        .await
        .context("building a chunk")?;
        build_s += pool.build_time.as_secs_f64();
        let r = load::run(target.clone(), Arc::new(PoolSource::new(pool.bodies)), &opts).await;
        send_s += r.elapsed.as_secs_f64();
        accepted += r.accepted;
        failed += r.failed;
        if let Some(e) = r.error_samples.first() {
            eprintln!("round at {first}: {} failed, e.g. {e}", r.failed);
        }
        first += count;
        eprintln!(
            "loaded {first}/{} ({accepted} accepted, {:.0}/s while sending)",
            args.events,
            r.accepted as f64 / r.elapsed.as_secs_f64().max(1e-9)
        );
    }
    eprintln!("waiting for the worker to finish…");
    let drain_started = Instant::now();
    let drained = server
        .wait_drained(Duration::from_secs(c.drain_timeout.max(args.events / 500)))
        .await?;
    let drain_s = drain_started.elapsed().as_secs_f64();
    let load_total_s = load_started.elapsed().as_secs_f64();

    let loadavg = procfs::loadavg();
    let query_now_s = drive::wall_clock_ms()? / 1000;
    let day_ago = query_now_s - 24 * 3600;
    let total = stats_total(&server, day_ago).await?;
    let issues = count_issues(&server).await?;
    let project = server.dsn.project_id;
    let top = server
        .get(&format!(
            "/api/0/projects/{project}/issues/?sort=times_seen&limit=1"
        ))
        .await?;
    let top: Value = serde_json::from_slice(&top.body).context("parsing the top issue")?;
    let top_id = top["data"][0]["id"].as_str().unwrap_or("0").to_owned();

    let p = |q: &str| format!("/api/0/projects/{project}/{q}");
    // Dashboard pages, signed in (the project `bench` of the organization `default`).
    let pages = "/orgs/default/projects/bench";
    let web_queries: Vec<(&'static str, String)> = vec![
        ("page: issues list", format!("{pages}/issues/")),
        (
            "page: issues list, search",
            format!("{pages}/issues/?query=is%3Aunresolved+level%3Aerror+Error&sort=times_seen"),
        ),
        (
            "page: issue (top issue)",
            format!("/orgs/default/issues/{top_id}/"),
        ),
        ("page: project overview", format!("{pages}/")),
    ];
    let queries: Vec<(&'static str, String)> = vec![
        ("issues sort=last_seen", p("issues/?sort=last_seen")),
        (
            "issues sort=times_seen query=Error",
            p("issues/?sort=times_seen&query=Error"),
        ),
        (
            "issues status=unresolved sort=first_seen",
            p("issues/?status=unresolved&sort=first_seen"),
        ),
        (
            "issues environment=production",
            p("issues/?environment=production&sort=last_seen"),
        ),
        (
            "project stats 1m over 24h",
            p(&format!("stats/?resolution=1m&since={day_ago}")),
        ),
        (
            "project stats 1h over 24h",
            p(&format!("stats/?resolution=1h&since={day_ago}")),
        ),
        (
            "issue stats 1h (top issue)",
            format!("/api/0/issues/{top_id}/stats/?resolution=1h&since={day_ago}"),
        ),
        (
            "issue detail + tags (top issue)",
            format!("/api/0/issues/{top_id}/"),
        ),
        (
            "issue events (top issue)",
            format!("/api/0/issues/{top_id}/events/"),
        ),
    ];
    let auth = format!("Bearer {}", server.token);
    let cookie = server.sign_in().await?;
    let mut conn = server.connect().await?;
    let mut timed = Vec::new();
    let all = queries
        .into_iter()
        .map(|(n, p)| (n, p, ("authorization", auth.as_str())))
        .chain(
            web_queries
                .into_iter()
                .map(|(n, p)| (n, p, ("cookie", cookie.as_str()))),
        );
    for (name, path, credential) in all {
        let mut t = Timed {
            name,
            path: path.clone(),
            latencies_us: Vec::new(),
            statuses: Vec::new(),
            bytes: 0,
        };
        for _ in 0..args.repeat {
            let started = Instant::now();
            let r = conn.get(&path, &[credential], Duration::from_secs(60)).await;
            let took = started.elapsed();
            match r {
                Ok(r) => {
                    t.latencies_us
                        .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                    t.statuses.push(r.status.as_u16());
                    t.bytes = r.body.len();
                }
                Err(e) => {
                    eprintln!("{name}: {e}");
                    conn = server.connect().await?;
                }
            }
        }
        t.latencies_us.sort_unstable();
        timed.push(t);
    }
    let mem = procfs::memory(server.pid)?;
    let disk_usage = server.disk_usage().await?;
    let disk = disk_usage.total;
    let database = if server.is_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    let _work = server.stop(Duration::from_secs(60)).await?;

    let q = |t: &Timed, p: f64| percentile_us(&t.latencies_us, p) / 1000.0;
    let result = json!({
        "bench": "query",
        "database": database,
        "loadavg_before_queries": loadavg,
        "largest_relations": disk_usage.largest.iter().map(|(n, s)| json!([n, s])).collect::<Vec<_>>(),
        "events_requested": args.events,
        "accepted": accepted,
        "failed": failed,
        "load_s": load_total_s,
        "pool_build_s": build_s,
        "send_s": send_s,
        "drain_after_load_s": drain_s,
        "drained": drained.is_some(),
        "stats_total_24h": total,
        "issues": issues,
        "rss_mib_after": mib(mem.rss),
        "rss_mib_peak": mib(mem.peak),
        "disk_bytes": disk,
        "disk_bytes_per_1000_events": if accepted > 0 { disk as f64 * 1000.0 / accepted as f64 } else { 0.0 },
        "queries": timed.iter().map(|t| json!({
            "name": t.name,
            "path": t.path,
            "n": t.latencies_us.len(),
            "p50_ms": q(t, 0.5),
            "p99_ms": q(t, 0.99),
            "max_ms": q(t, 1.0),
            "statuses": t.statuses.iter().fold(std::collections::BTreeMap::<u16, u32>::new(), |mut m, s| { *m.entry(*s).or_default() += 1; m }),
            "response_bytes": t.bytes,
        })).collect::<Vec<_>>(),
    });
    let mut table = Table::new("sentinel-bench query");
    table.row("loaded", format!("{accepted} accepted of {} ({failed} failed) in {load_total_s:.0} s (build {build_s:.0} s, send {send_s:.0} s, drain {drain_s:.1} s)", args.events));
    table.row("check", format!("stats total over 24 h {total}; issues {issues}"));
    table.row(
        "machine",
        format!("{database}; load averages before the queries {loadavg:?}"),
    );
    table.row(
        "server",
        format!(
            "RSS {:.1} MiB (peak {:.1}), disk {:.1} MiB",
            mib(mem.rss),
            mib(mem.peak),
            mib(disk)
        ),
    );
    for t in &timed {
        let ok = t.statuses.iter().all(|s| *s == 200);
        table.row(
            t.name,
            format!(
                "p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} B{})",
                q(t, 0.5),
                q(t, 0.99),
                q(t, 1.0),
                t.bytes,
                if ok { "" } else { ", NOT ALL 200" }
            ),
        );
    }
    table.print();
    println!("{}", serde_json::to_string(&result).unwrap_or_default());
    Ok(())
}
