//! `sentinel-bench ingest`: accepted throughput, latency, end-to-end processing, CPU, memory and
//! disk of the real server under a closed loop of pre-built envelopes; then a correctness check.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sentinel_loadgen::corpus::{Compression, Corpus};
use sentinel_loadgen::load::{LoadOptions, OnShed, PoolSource};
use serde_json::{Value, json};

use crate::cpusplit::{self, CpuWatch};
use crate::drive::{self, Pool, mib, run_phase};
use crate::procfs;
use crate::promtext::{self, Summary};
use crate::report::Table;
use crate::server::{Server, Topology};

#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Concurrent keep-alive connections (one task each)
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Seconds of load
    #[arg(long, default_value_t = 15)]
    pub duration: u64,
    /// Envelopes built before the clock starts; the load stops early if they run out
    #[arg(long, default_value_t = 200_000)]
    pub pool: u64,
    /// Repeat the measurement this many times (fresh server each time, same pool)
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    #[command(flatten)]
    pub db: DbArgs,
    /// Run the workers as this many separate `serve --roles worker` processes beside one
    /// `serve --roles ingest,web,scheduler` process (PostgreSQL only; 0: one process, all roles)
    #[arg(long, default_value_t = 0, requires = "database_url")]
    pub workers: usize,
}

/// Where the server under test keeps its data.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// Run the server on PostgreSQL (postgres://… on this machine) in a fresh schema
    /// `bench_<random hex>`, created before the run and dropped after it (unless --keep);
    /// default: the embedded SQLite database in a temporary data directory
    #[arg(long)]
    pub database_url: Option<String>,
}

impl DbArgs {
    pub fn topology(&self, workers: usize) -> Topology {
        Topology {
            database_url: self.database_url.clone(),
            workers,
        }
    }
}

/// Options every benchmark shares.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// The `sentinel` binary to test
    #[arg(long, default_value = "target/release/sentinel")]
    pub server_bin: PathBuf,
    /// Keep the temporary data directory and server logs (and the PostgreSQL schema)
    #[arg(long, visible_alias = "keep")]
    pub keep_data: bool,
    /// Where the temporary data directory is created
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    pub work_dir: PathBuf,
    /// Client runtime threads (the load generator shares the machine with the server)
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Gzip level of the envelopes (sentry-python uses 9)
    #[arg(long, default_value_t = 9)]
    pub gzip_level: u32,
    /// Corpus seed
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Before loading, wait up to this many seconds for the machine to be quiet
    #[arg(long, default_value_t = 120)]
    pub quiet_wait: u64,
    /// "Quiet" means fewer than this many busy cores (server idle included)
    #[arg(long, default_value_t = 0.3)]
    pub quiet_cores: f64,
    /// Give up waiting for the inbox to drain after this many seconds
    #[arg(long, default_value_t = 300)]
    pub drain_timeout: u64,
}

pub fn build(args: &IngestArgs) -> anyhow::Result<Pool> {
    let now_ms = drive::wall_clock_ms()?;
    let corpus = Corpus::new(args.common.seed);
    eprintln!("building a pool of {} gzip envelopes…", args.pool);
    Ok(drive::build_pool(
        &corpus,
        0,
        args.pool,
        now_ms,
        Compression::Gzip(args.common.gzip_level),
    ))
}

/// Counts the project's issues by paging through the list.
pub async fn count_issues(server: &Server) -> anyhow::Result<u64> {
    let mut count = 0u64;
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!(
            "/api/0/projects/{}/issues/?limit=100&sort=last_seen",
            server.dsn.project_id
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = server.get(&path).await?;
        anyhow::ensure!(r.status.is_success(), "GET {path}: HTTP {}", r.status);
        let page: Value = serde_json::from_slice(&r.body).context("parsing the issue list")?;
        count += page["data"].as_array().map_or(0, |a| a.len() as u64);
        cursor = page["pagination"]["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    Ok(count)
}

/// `total` of the project's event stats since `since_s` (epoch seconds), 1-minute buckets.
pub async fn stats_total(server: &Server, since_s: i64) -> anyhow::Result<u64> {
    let path = format!(
        "/api/0/projects/{}/stats/?resolution=1m&since={since_s}",
        server.dsn.project_id
    );
    let r = server.get(&path).await?;
    anyhow::ensure!(
        r.status.is_success(),
        "GET {path}: HTTP {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let v: Value = serde_json::from_slice(&r.body).context("parsing stats")?;
    v["total"].as_u64().context("stats without a total")
}

/// What the server's own histograms say about where the time went during `secs`.
pub fn internals(before: &str, after: &str, secs: f64) -> Value {
    let s = |name: &str| Summary::read(after, name).since(Summary::read(before, name));
    let commit = s("sentinel_inbox_commit_seconds");
    let commit_items = s("sentinel_inbox_commit_items");
    let batch = s("sentinel_worker_batch_seconds");
    let batch_items = s("sentinel_worker_batch_items");
    // Summaries' quantiles cover the exporter's recent window, not exactly the load phase.
    let q = |name: &str, quantile: &str| {
        promtext::max_value(after, name, &[&format!("quantile=\"{quantile}\"")]).map(|v| v * 1000.0)
    };
    json!({
        "inbox_commit_p99_ms_recent": q("sentinel_inbox_commit_seconds", "0.99"),
        "inbox_commit_max_ms_recent": q("sentinel_inbox_commit_seconds", "1"),
        "worker_batch_max_ms_recent": q("sentinel_worker_batch_seconds", "1"),
        "inbox_commits": commit.count,
        "inbox_commit_mean_ms": commit.mean() * 1000.0,
        "inbox_rows_per_commit": commit_items.mean(),
        "inbox_writer_busy": commit.sum / secs,
        "worker_batches": batch.count,
        "worker_batch_mean_ms": batch.mean() * 1000.0,
        "worker_rows_per_batch": batch_items.mean(),
        "worker_busy": batch.sum / secs,
    })
}

pub fn statuses_json(s: &BTreeMap<u16, u64>) -> Value {
    Value::Object(s.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

/// Runs the benchmark `--repeat` times, each on a fresh server and data directory, reusing the
/// pool (event ids are unique per server, which is all de-duplication sees).
pub async fn run(args: IngestArgs, pool: Pool) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for i in 0..args.repeat.max(1) {
        if args.repeat > 1 {
            eprintln!("repeat {}/{}", i + 1, args.repeat);
        }
        let result = run_once(&args, &pool).await?;
        print_table(&result);
        println!("{}", serde_json::to_string(&result).unwrap_or_default());
        results.push(result);
    }
    if results.len() > 1 {
        print_summary(&results);
    }
    Ok(())
}

async fn run_once(args: &IngestArgs, pool: &Pool) -> anyhow::Result<Value> {
    let c = &args.common;
    let topology = args.db.topology(args.workers);
    let server = Server::start(&c.server_bin, &c.work_dir, c.keep_data, &topology).await?;
    let (quiet_cores, quiet) = procfs::wait_quiet(c.quiet_cores, Duration::from_secs(c.quiet_wait)).await?;
    if !quiet {
        eprintln!(
            "warning: the machine is busy ({quiet_cores:.2} cores) — numbers will be lower than on a quiet box"
        );
    }
    let idle = procfs::memory(server.pid)?;
    let pool_len = pool.bodies.len() as u64;
    let source = Arc::new(PoolSource::new(pool.bodies.clone()));
    let target = drive::target(&server, Compression::Gzip(c.gzip_level))?;
    let opts = LoadOptions {
        connections: args.connections,
        duration: Some(Duration::from_secs(args.duration)),
        on_shed: OnShed::Record,
        request_timeout: Duration::from_secs(30),
        keep_accepted: true,
    };
    eprintln!(
        "loading: {} connections for {} s…",
        args.connections, args.duration
    );
    let loadavg_before = procfs::loadavg();
    let server_cpu0 = server.cpu_time()?;
    let threads_before = procfs::thread_cpu(server.pid)?;
    // On PostgreSQL: CPU per sentinel process kind and of the database's processes.
    let watch = server.schema().map(|schema| {
        let procs = server
            .processes()
            .into_iter()
            .map(|(pid, roles)| (pid, format!("sentinel {roles}")))
            .collect();
        CpuWatch::start(procs, schema.link)
    });
    let phase = run_phase(&server, target, source.clone(), &opts).await?;
    let cpu_load = watch.as_ref().map(CpuWatch::read);
    let stored_at_end =
        promtext::value(&phase.metrics_after, "sentinel_worker_events_stored_total", &[]).unwrap_or(0.0);
    let at_end = server.ready().await.unwrap_or_default();
    eprintln!(
        "load done ({} accepted); waiting for the inbox to drain…",
        phase.load.accepted
    );
    let drain = server.wait_drained(Duration::from_secs(c.drain_timeout)).await?;
    let server_cpu_total = server.cpu_time()?.saturating_sub(server_cpu0);
    let cpu_by_process = watch.map(|w| {
        let kinds = w.sentinel_kinds().to_vec();
        let total = w.finish();
        (kinds, total)
    });
    let loadavg_after = procfs::loadavg();
    let after = procfs::memory(server.pid)?;
    let metrics_drained = server.metrics().await?;
    let stored = promtext::value(&metrics_drained, "sentinel_worker_events_stored_total", &[]).unwrap_or(0.0);
    let ingest_accepted = promtext::value(
        &metrics_drained,
        "sentinel_ingest_accepted_total",
        &["category=\"error\""],
    )
    .unwrap_or(0.0);

    // Correctness: every accepted event is counted once, and the corpus's groups became issues.
    let since_s = (pool.now_ms - 120_000) / 1000;
    let stats_total = stats_total(&server, since_s).await?;
    let issues = count_issues(&server).await?;
    let expected_groups = pool.groups_of(&phase.load.accepted_indexes);
    let disk = server.disk_usage().await?;
    let (disk_running, files, main_db) = (disk.total, disk.largest, disk.main);
    let processes_rss: Vec<Value> = server
        .processes()
        .into_iter()
        .map(|(pid, roles)| {
            let m = procfs::memory(pid).unwrap_or_default();
            json!([roles, mib(m.rss), mib(m.peak)])
        })
        .collect();
    let postgres = server.is_postgres();
    let schema_name = server.schema().map(|s| s.name.clone());
    let internals = internals(&phase.metrics_before, &phase.metrics_after, phase.secs());
    let data_dir = server.data_dir.clone();
    let threads_after = procfs::thread_cpu(server.pid).unwrap_or_default();
    let _work = server.stop(Duration::from_secs(30)).await?;
    // On PostgreSQL the schema is gone by now: report the size measured before the stop.
    let (disk_stopped, files_stopped) = if postgres {
        (disk_running, files.clone())
    } else {
        procfs::dir_size(&data_dir).unwrap_or_default()
    };

    let l = &phase.load;
    let secs = phase.secs();
    let accepted = l.accepted as f64;
    let drain_s = drain.map(|d| d.as_secs_f64());
    let per_event = |d: Duration| {
        if l.accepted > 0 {
            d.as_secs_f64() * 1e6 / accepted
        } else {
            0.0
        }
    };
    // On PostgreSQL every postgres process is accounted for separately, not as "other".
    let postgres_load = cpu_load.as_ref().map(|t| t.postgres_all()).unwrap_or_default();
    let other_cores = (phase.system_busy.as_secs_f64()
        - phase.server_cpu.as_secs_f64()
        - phase.client_cpu.as_secs_f64()
        - postgres_load.as_secs_f64())
        / secs;
    let mut result = json!({
        "bench": "ingest",
        "database": if postgres { "postgresql" } else { "sqlite" },
        "loadavg_before": loadavg_before,
        "loadavg_after": loadavg_after,
        "connections": args.connections,
        "duration_s": secs,
        "client_threads": c.client_threads,
        "pool": pool_len,
        "pool_exhausted": l.exhausted,
        "pool_build_s": pool.build_time.as_secs_f64(),
        "mean_body_bytes": pool.mean_body_bytes,
        "mean_envelope_bytes": pool.mean_envelope_bytes,
        "quiet": quiet,
        "busy_cores_before": quiet_cores,
        "sent": l.latencies_us.len(),
        "accepted": l.accepted,
        "accepted_per_s": accepted / secs,
        "latency_ms": {
            "p50": l.latency_ms(0.50), "p95": l.latency_ms(0.95), "p99": l.latency_ms(0.99), "max": l.latency_ms(1.0),
        },
        "statuses": statuses_json(&l.statuses),
        "non_200": statuses_json(&l.non_ok()),
        "transport_errors": l.transport_errors,
        "errors": l.error_samples,
        "processed_during_load_per_s": stored_at_end / secs,
        "backlog_at_end": at_end.inbox_depth,
        "backlog_lag_s_at_end": at_end.inbox_lag_seconds,
        "drain_s": drain_s,
        "e2e_per_s": drain_s.map(|d| accepted / (secs + d)),
        "server_cores_load": phase.server_cpu.as_secs_f64() / secs,
        "server_cpu_us_per_event": per_event(server_cpu_total),
        "server_cpu_us_per_event_load_only": per_event(phase.server_cpu),
        "client_cores": phase.client_cpu.as_secs_f64() / secs,
        "client_cpu_us_per_request": if l.latencies_us.is_empty() { 0.0 } else { phase.client_cpu.as_secs_f64() * 1e6 / l.latencies_us.len() as f64 },
        "other_cores": other_cores.max(0.0),
        "rss_mib": { "idle": mib(idle.rss), "load_max_sampled": mib(phase.sampled_rss_max), "peak_hwm": mib(after.peak), "after_drain": mib(after.rss) },
        "disk_bytes": disk_running,
        "disk_bytes_after_stop": disk_stopped,
        "disk_bytes_per_1000_events": if l.accepted > 0 { disk_running as f64 * 1000.0 / accepted } else { 0.0 },
        "disk_bytes_per_1000_events_after_stop": if l.accepted > 0 { disk_stopped as f64 * 1000.0 / accepted } else { 0.0 },
        "main_db_bytes": main_db,
        "main_db_bytes_per_1000_events": if l.accepted > 0 { main_db as f64 * 1000.0 / accepted } else { 0.0 },
        "largest_files": files.iter().map(|(n, s)| json!([n, s])).collect::<Vec<_>>(),
        "files_after_stop": files_stopped.iter().map(|(n, s)| json!([n, s])).collect::<Vec<_>>(),
        "server_threads_cpu_s": procfs::thread_cpu_delta(&threads_before, &threads_after)
            .into_iter()
            .take(10)
            .map(|(name, secs)| json!([name, secs]))
            .collect::<Vec<_>>(),
        "server_internals_during_load": internals,
        "check": {
            "stats_total": stats_total,
            "metric_ingest_accepted": ingest_accepted,
            "metric_events_stored": stored,
            "stats_total_equals_accepted": stats_total == l.accepted,
            "issues": issues,
            "corpus_groups_sent": expected_groups,
        },
    });
    if let (Some(load), Some((kinds, total))) = (&cpu_load, &cpu_by_process) {
        result["postgres_schema"] = json!(schema_name);
        result["server_processes"] = json!(processes_rss);
        result["cpu_by_process"] = cpusplit::report(kinds, load, total, secs, l.accepted);
    }
    Ok(result)
}

/// Median and range of the headline numbers over the repeats.
fn print_summary(results: &[Value]) {
    let scaled = |path: &[&str], scale: f64| -> String {
        let mut v: Vec<f64> = results
            .iter()
            .filter_map(|r| {
                path.iter()
                    .try_fold(r, |acc, k| acc.get(*k))
                    .and_then(Value::as_f64)
            })
            .map(|x| x * scale)
            .collect();
        v.sort_by(f64::total_cmp);
        match (v.first(), v.get(v.len() / 2), v.last()) {
            (Some(lo), Some(mid), Some(hi)) => format!("{mid:.1} [{lo:.1}–{hi:.1}]"),
            _ => "-".into(),
        }
    };
    let stat = |path: &[&str]| scaled(path, 1.0);
    let mut t = Table::new(&format!("median [min–max] of {} repeats", results.len()));
    t.row("accepted/s", stat(&["accepted_per_s"]));
    t.row(
        "p50 / p99 ms",
        format!(
            "{} / {}",
            stat(&["latency_ms", "p50"]),
            stat(&["latency_ms", "p99"])
        ),
    );
    t.row("processed/s during load", stat(&["processed_during_load_per_s"]));
    t.row("drain s", stat(&["drain_s"]));
    t.row("end-to-end/s", stat(&["e2e_per_s"]));
    t.row("server cores", stat(&["server_cores_load"]));
    t.row("server CPU µs/event", stat(&["server_cpu_us_per_event"]));
    t.row("client cores", stat(&["client_cores"]));
    t.row("other cores", stat(&["other_cores"]));
    t.row(
        "RSS idle / peak MiB",
        format!(
            "{} / {}",
            stat(&["rss_mib", "idle"]),
            stat(&["rss_mib", "peak_hwm"])
        ),
    );
    t.row(
        "disk KB per 1,000 events",
        scaled(&["disk_bytes_per_1000_events"], 0.001),
    );
    t.row(
        "main db KB per 1,000 events",
        scaled(&["main_db_bytes_per_1000_events"], 0.001),
    );
    t.print();
}

fn f(v: &Value, digits: usize) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.digits$}"),
        None => v.to_string(),
    }
}

fn print_table(r: &Value) {
    let mut t = Table::new("sentinel-bench ingest");
    t.row(
        "load",
        format!(
            "{} connections, {} s, pool {} (built in {} s{})",
            r["connections"],
            f(&r["duration_s"], 1),
            r["pool"],
            f(&r["pool_build_s"], 1),
            if r["pool_exhausted"] == true {
                ", EXHAUSTED: stopped early"
            } else {
                ""
            }
        ),
    );
    t.row(
        "bodies",
        format!(
            "{} B gzip, {} B envelope",
            f(&r["mean_body_bytes"], 0),
            f(&r["mean_envelope_bytes"], 0)
        ),
    );
    t.row(
        "machine quiet before",
        format!(
            "{} ({} busy cores); load averages before {}, after {}",
            r["quiet"],
            f(&r["busy_cores_before"], 2),
            r["loadavg_before"],
            r["loadavg_after"]
        ),
    );
    if let Some(schema) = r["postgres_schema"].as_str() {
        t.row(
            "database",
            format!(
                "PostgreSQL schema {schema}; processes (roles, RSS, peak MiB) {}",
                r["server_processes"]
            ),
        );
    }
    t.row(
        "accepted",
        format!("{} ({} req/s)", r["accepted"], f(&r["accepted_per_s"], 0)),
    );
    let lat = &r["latency_ms"];
    t.row(
        "latency ms",
        format!(
            "p50 {}  p95 {}  p99 {}  max {}",
            f(&lat["p50"], 2),
            f(&lat["p95"], 2),
            f(&lat["p99"], 2),
            f(&lat["max"], 2)
        ),
    );
    t.row(
        "non-200",
        format!("{} (transport errors {})", r["non_200"], r["transport_errors"]),
    );
    t.row(
        "processed during load",
        format!(
            "{}/s, backlog at end {} ({} s old)",
            f(&r["processed_during_load_per_s"], 0),
            r["backlog_at_end"],
            f(&r["backlog_lag_s_at_end"], 2)
        ),
    );
    t.row(
        "drain",
        format!(
            "{} s → end-to-end {} events/s",
            f(&r["drain_s"], 2),
            f(&r["e2e_per_s"], 0)
        ),
    );
    t.row(
        "server CPU",
        format!(
            "{} cores during load, {} µs/event incl. drain",
            f(&r["server_cores_load"], 2),
            f(&r["server_cpu_us_per_event"], 1)
        ),
    );
    t.row(
        "client CPU",
        format!(
            "{} cores, {} µs/request; other processes {} cores",
            f(&r["client_cores"], 2),
            f(&r["client_cpu_us_per_request"], 1),
            f(&r["other_cores"], 2)
        ),
    );
    let rss = &r["rss_mib"];
    t.row(
        "server RSS MiB",
        format!(
            "idle {}  load max {}  peak {}  after drain {}",
            f(&rss["idle"], 1),
            f(&rss["load_max_sampled"], 1),
            f(&rss["peak_hwm"], 1),
            f(&rss["after_drain"], 1)
        ),
    );
    t.row(
        "disk",
        format!(
            "{} MiB running ({} KB per 1,000 events), {} MiB after stop",
            f(&json!(r["disk_bytes"].as_f64().unwrap_or(0.0) / 1048576.0), 1),
            f(
                &json!(r["disk_bytes_per_1000_events"].as_f64().unwrap_or(0.0) / 1000.0),
                0
            ),
            f(
                &json!(r["disk_bytes_after_stop"].as_f64().unwrap_or(0.0) / 1048576.0),
                1
            )
        ),
    );
    t.row(
        "main database",
        format!(
            "{} MiB ({} KB per 1,000 events); files {}",
            f(&json!(r["main_db_bytes"].as_f64().unwrap_or(0.0) / 1048576.0), 1),
            f(
                &json!(r["main_db_bytes_per_1000_events"].as_f64().unwrap_or(0.0) / 1000.0),
                0
            ),
            r["largest_files"]
        ),
    );
    let i = &r["server_internals_during_load"];
    t.row(
        "inbox writer",
        format!(
            "{} commits, {} rows/commit, {} ms/commit (recent p99 {}, max {}), busy {}",
            f(&i["inbox_commits"], 0),
            f(&i["inbox_rows_per_commit"], 1),
            f(&i["inbox_commit_mean_ms"], 3),
            f(&i["inbox_commit_p99_ms_recent"], 2),
            f(&i["inbox_commit_max_ms_recent"], 2),
            f(&i["inbox_writer_busy"], 2)
        ),
    );
    t.row(
        "worker",
        format!(
            "{} batches, {} rows/batch, {} ms/batch, busy {}",
            f(&i["worker_batches"], 0),
            f(&i["worker_rows_per_batch"], 1),
            f(&i["worker_batch_mean_ms"], 2),
            f(&i["worker_busy"], 2)
        ),
    );
    t.row("after stop", format!("files {}", r["files_after_stop"]));
    if let Some(split) = r["cpu_by_process"].as_object() {
        for (kind, v) in split {
            t.row(
                kind,
                format!(
                    "{} cores during load, {} µs/event incl. drain",
                    f(&v["cores_load"], 2),
                    f(&v["us_per_event"], 1)
                ),
            );
        }
    }
    t.row("server threads CPU s", format!("{}", r["server_threads_cpu_s"]));
    let ch = &r["check"];
    t.row(
        "check",
        format!(
            "stats total {} vs accepted {} ({}); issues {} vs corpus groups sent {}",
            ch["stats_total"],
            r["accepted"],
            if ch["stats_total_equals_accepted"] == true {
                "ok"
            } else {
                "MISMATCH"
            },
            ch["issues"],
            ch["corpus_groups_sent"]
        ),
    );
    if let Some(errors) = r["errors"].as_array().filter(|e| !e.is_empty()) {
        t.row("errors", format!("{errors:?}"));
    }
    t.print();
}
