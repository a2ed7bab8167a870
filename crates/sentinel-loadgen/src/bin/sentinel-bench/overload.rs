//! `sentinel-bench overload`: many more connections than the server needs, to show that memory
//! stays bounded and that the server sheds (429/503) rather than queueing without limit.

use std::sync::Arc;
use std::time::Duration;

use sentinel_loadgen::corpus::{Compression, Corpus};
use sentinel_loadgen::load::{CyclingSource, LoadOptions, OnShed};
use serde_json::json;

use crate::drive::{self, Pool, mib, run_phase};
use crate::ingest::{CommonArgs, internals, statuses_json};
use crate::procfs;
use crate::report::Table;
use crate::server::{Server, Topology};

#[derive(Debug, Clone, clap::Args)]
pub struct OverloadArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Concurrent keep-alive connections
    #[arg(long, default_value_t = 1500)]
    pub connections: usize,
    /// Seconds of load
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Envelopes built before the clock starts (handed out round and round)
    #[arg(long, default_value_t = 100_000)]
    pub pool: u64,
}

pub fn build(args: &OverloadArgs) -> anyhow::Result<Pool> {
    let now_ms = drive::wall_clock_ms()?;
    eprintln!("building a pool of {} gzip envelopes…", args.pool);
    Ok(drive::build_pool(
        &Corpus::new(args.common.seed),
        0,
        args.pool,
        now_ms,
        Compression::Gzip(args.common.gzip_level),
    ))
}

pub async fn run(args: OverloadArgs, pool: Pool) -> anyhow::Result<()> {
    let c = &args.common;
    let server = Server::start(&c.server_bin, &c.work_dir, c.keep_data, &Topology::sqlite()).await?;
    let (busy, quiet) = procfs::wait_quiet(c.quiet_cores, Duration::from_secs(c.quiet_wait)).await?;
    let idle = procfs::memory(server.pid)?;
    // Shed requests are answered fast, so a pool sized for accepted ones would run out: cycle it,
    // bounded by time and by 100 bodies per connection-second.
    let limit = (args.connections as u64)
        .saturating_mul(args.duration)
        .saturating_mul(100);
    let source = Arc::new(CyclingSource::new(pool.bodies, limit));
    let target = drive::target(&server, Compression::Gzip(c.gzip_level))?;
    let opts = LoadOptions {
        connections: args.connections,
        duration: Some(Duration::from_secs(args.duration)),
        on_shed: OnShed::Record,
        request_timeout: Duration::from_secs(30),
        keep_accepted: false,
    };
    eprintln!(
        "overloading: {} connections for {} s…",
        args.connections, args.duration
    );
    let phase = run_phase(&server, target, source.clone(), &opts).await?;
    let rejected: Vec<String> = phase
        .metrics_after
        .lines()
        .filter(|l| l.starts_with("sentinel_ingest_rejected_total"))
        .map(str::to_owned)
        .collect();
    let drain = server.wait_drained(Duration::from_secs(c.drain_timeout)).await?;
    let after = procfs::memory(server.pid)?;
    let l = &phase.load;
    let secs = phase.secs();
    let result = json!({
        "bench": "overload",
        "connections": args.connections,
        "duration_s": secs,
        "pool_exhausted": l.exhausted,
        "bodies_reused": source.reused(),
        "server_rejections": rejected,
        "quiet": quiet,
        "busy_cores_before": busy,
        "sent": l.latencies_us.len(),
        "accepted": l.accepted,
        "accepted_per_s": l.accepted as f64 / secs,
        "answered_per_s": l.latencies_us.len() as f64 / secs,
        "statuses": statuses_json(&l.statuses),
        "transport_errors": l.transport_errors,
        "errors": l.error_samples,
        "latency_ms": { "p50": l.latency_ms(0.5), "p99": l.latency_ms(0.99), "max": l.latency_ms(1.0) },
        "rss_mib": {
            "idle": mib(idle.rss),
            "load_max_sampled": mib(phase.sampled_rss_max),
            "peak_hwm": mib(after.peak),
            "after_drain": mib(after.rss),
            "per_second": phase.rss_series_mib.iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
        },
        "server_cores_load": phase.server_cpu.as_secs_f64() / secs,
        "client_cores": phase.client_cpu.as_secs_f64() / secs,
        "drain_s": drain.map(|d| d.as_secs_f64()),
        "server_internals_during_load": internals(&phase.metrics_before, &phase.metrics_after, secs),
    });
    let _work = server.stop(Duration::from_secs(30)).await?;
    let mut t = Table::new("sentinel-bench overload");
    t.row(
        "load",
        format!(
            "{} connections, {:.1} s{}",
            args.connections,
            secs,
            if l.exhausted { ", pool EXHAUSTED" } else { "" }
        ),
    );
    t.row("machine quiet before", format!("{quiet} ({busy:.2} busy cores)"));
    t.row(
        "answers",
        format!(
            "{} ({:.0}/s), accepted {:.0}/s, by status {}",
            l.latencies_us.len(),
            l.latencies_us.len() as f64 / secs,
            l.accepted as f64 / secs,
            result["statuses"]
        ),
    );
    t.row(
        "latency ms",
        format!(
            "p50 {:.1}  p99 {:.1}  max {:.1}",
            l.latency_ms(0.5),
            l.latency_ms(0.99),
            l.latency_ms(1.0)
        ),
    );
    t.row("server rejections", format!("{rejected:?}"));
    t.row(
        "bodies reused",
        format!("{} (pool {})", source.reused(), args.pool),
    );
    t.row(
        "transport errors",
        format!("{} {:?}", l.transport_errors, l.error_samples),
    );
    t.row(
        "server RSS MiB",
        format!(
            "idle {:.1}  load max {:.1}  peak {:.1}  after drain {:.1}",
            mib(idle.rss),
            mib(phase.sampled_rss_max),
            mib(after.peak),
            mib(after.rss)
        ),
    );
    t.row("RSS each second", format!("{}", result["rss_mib"]["per_second"]));
    t.row("drain", format!("{:?}", drain));
    t.print();
    println!("{}", serde_json::to_string(&result).unwrap_or_default());
    Ok(())
}
