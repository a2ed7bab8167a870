#![recursion_limit = "256"]
//! `sentinel-bench`: benchmarks of a real `sentinel` binary over loopback HTTP, as an SDK sees it.
//! Every run starts the server on a fresh temporary data directory (or, with `--database-url`, in a
//! fresh PostgreSQL schema that is dropped afterwards) and stops it afterwards; every load is
//! bounded in time and in the number of bodies. See docs/PERFORMANCE.md.

mod cpusplit;
mod drive;
mod ingest;
mod node;
mod overload;
mod pgschema;
mod procfs;
mod promtext;
mod query;
mod report;
mod server;
mod tenants;
mod uptime;

use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sentinel_loadgen::corpus::{Compression, Corpus};

#[derive(Debug, Parser)]
#[command(
    name = "sentinel-bench",
    about = "Benchmarks for the sentinel server (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Closed-loop ingest: throughput, latency, end-to-end processing, CPU, memory, disk, correctness
    Ingest(ingest::IngestArgs),
    /// Far more connections than needed: memory must stay bounded and the server must shed
    Overload(overload::OverloadArgs),
    /// Load many events, then time the issue list and stats queries
    Query(query::QueryArgs),
    /// Many HTTP monitors against a local target: every slot run, scheduling lag, CPU, memory, pages
    Uptime(uptime::UptimeArgs),
    /// Request events through the batch endpoint: throughput, aggregation delay, "top tenants now", memory
    Tenants(tenants::TenantsArgs),
    /// Print a corpus event, or measure the corpus's sizes and generation cost
    Corpus(CorpusArgs),
    /// Send generated events to a running server (what `sentinel seed` does)
    Seed(SeedArgs),
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    /// DSN of the project to send to (plain http, loopback or your own test host)
    #[arg(long)]
    dsn: String,
    /// Number of events
    #[arg(long, default_value_t = 1000)]
    events: u64,
    /// How many days back the events go (at most 30)
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Seed of the plan, to send the same events as an earlier run [default: random]
    #[arg(long)]
    seed: Option<u64>,
    /// Concurrent connections
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

#[derive(Debug, clap::Args)]
struct CorpusArgs {
    /// Corpus seed
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print this event's JSON (pretty) instead of statistics
    #[arg(long)]
    show: Option<u64>,
    /// Events to measure
    #[arg(long, default_value_t = 2000)]
    count: u64,
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("starting the client runtime")
}

fn corpus(args: &CorpusArgs) -> anyhow::Result<()> {
    let corpus = Corpus::new(args.seed);
    let now_ms = drive::wall_clock_ms()?;
    if let Some(index) = args.show {
        let ev = corpus.event(index, now_ms);
        let v: serde_json::Value =
            serde_json::from_slice(&ev.json).context("the corpus made invalid JSON")?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let n = args.count.max(1);
    let started = Instant::now();
    let sizes: Vec<usize> = (0..n).map(|i| corpus.event(i, now_ms).json.len()).collect();
    let event_us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    println!(
        "event JSON bytes: mean {:.0}, median {}, min {}, max {}; {:.0} µs to generate",
        sizes.iter().sum::<usize>() as f64 / n as f64,
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
        event_us
    );
    for level in [1, 6, 9] {
        let started = Instant::now();
        let bytes: usize = (0..n)
            .map(|i| corpus.envelope(i, now_ms, Compression::Gzip(level)).body.len())
            .sum();
        println!(
            "gzip level {level}: mean body {:.0} bytes, {:.0} µs per envelope incl. generation",
            bytes as f64 / n as f64,
            started.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
    let groups: std::collections::HashSet<u32> = (0..n.max(100_000)).map(|i| corpus.group_of(i)).collect();
    println!(
        "{} distinct groups in the first {} events (corpus has {})",
        groups.len(),
        n.max(100_000),
        corpus.group_count()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Ingest(args) => {
            let pool = ingest::build(&args)?;
            runtime(args.common.client_threads)?.block_on(ingest::run(args, pool))
        }
        Command::Overload(args) => {
            let pool = overload::build(&args)?;
            runtime(args.common.client_threads)?.block_on(overload::run(args, pool))
        }
        Command::Query(args) => runtime(args.common.client_threads.max(2))?.block_on(query::run(args)),
        Command::Tenants(args) => runtime(args.common.client_threads.max(2))?.block_on(tenants::run(args)),
        Command::Uptime(args) => runtime(args.common.client_threads.max(2))?.block_on(uptime::run(args)),
        Command::Corpus(args) => corpus(&args),
        Command::Seed(args) => {
            let opts = sentinel_loadgen::SeedOptions {
                dsn: args.dsn,
                events: args.events,
                days: args.days,
                seed: args.seed,
                concurrency: args.concurrency,
            };
            let report = runtime(2)?.block_on(sentinel_loadgen::seed(&opts))?;
            println!("{report}");
            Ok(())
        }
    }
}
