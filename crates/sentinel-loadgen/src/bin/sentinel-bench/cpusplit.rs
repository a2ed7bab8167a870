//! Where the CPU goes when the server runs on PostgreSQL: each kind of sentinel process, the
//! PostgreSQL backends serving each kind, PostgreSQL's own background processes
//! (WAL writer, checkpointer, autovacuum…) and backends serving anybody else. Over TCP a backend is
//! ours when its title names one of our client ports; over a Unix socket when `ss` shows it at the
//! other end of one of our sockets.
//!
//! A sampler reads `/proc` once a second, so backends that start during the run are seen and the
//! last reading of one that exits is kept. A process first seen after the start counts from zero.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::pgschema::DbLink;
use crate::procfs;

/// PostgreSQL process kinds, as reported; our backends are "postgres serving <sentinel kind>".
const PG_SERVING: &str = "postgres serving ";
const PG_BACKGROUND: &str = "postgres background";
const PG_OTHERS: &str = "postgres backends (others)";

#[derive(Debug, Clone)]
struct Tracked {
    kind: String,
    base: Duration,
    last: Duration,
}

#[derive(Debug)]
struct State {
    /// Server processes and the kind each is reported under.
    sentinel: Vec<(u32, String)>,
    link: DbLink,
    procs: HashMap<u32, Tracked>,
}

impl State {
    fn sample(&mut self, first: bool) {
        // Which sentinel kind each backend serves: by client port (TCP) or by socket peer (Unix).
        let peers = match self.link {
            DbLink::Unix => procfs::unix_peers().unwrap_or_default(),
            DbLink::Tcp(_) => HashMap::new(),
        };
        let mut by_port: HashMap<u16, String> = HashMap::new();
        let mut by_pid: HashMap<u32, String> = HashMap::new();
        let sentinel = self.sentinel.clone();
        for (pid, kind) in &sentinel {
            let inodes = procfs::socket_inodes(*pid).unwrap_or_default();
            match self.link {
                DbLink::Tcp(port) => {
                    for p in procfs::tcp_client_ports(&inodes, port) {
                        by_port.insert(p, kind.clone());
                    }
                }
                DbLink::Unix => {
                    for backend in inodes.iter().filter_map(|i| peers.get(i)) {
                        by_pid.insert(*backend, kind.clone());
                    }
                }
            }
            if let Ok(cpu) = procfs::cpu_time(*pid) {
                self.track(*pid, kind, cpu, first);
            }
        }
        for p in procfs::postgres_processes().unwrap_or_default() {
            let Ok(cpu) = procfs::cpu_time(p.pid) else {
                continue;
            };
            let serving = by_pid
                .get(&p.pid)
                .or_else(|| p.client_port().and_then(|port| by_port.get(&port)));
            let kind = match serving {
                Some(k) => format!("{PG_SERVING}{k}"),
                None if p.is_client_backend() => PG_OTHERS.to_owned(),
                None => PG_BACKGROUND.to_owned(),
            };
            // Once ours, always ours: after the server stops its sockets are gone.
            let kind = match self.procs.get(&p.pid) {
                Some(t) if t.kind.starts_with(PG_SERVING) => t.kind.clone(),
                _ => kind,
            };
            self.track(p.pid, &kind, cpu, first);
        }
    }

    fn track(&mut self, pid: u32, kind: &str, cpu: Duration, first: bool) {
        let t = self.procs.entry(pid).or_insert_with(|| Tracked {
            kind: kind.to_owned(),
            base: if first { cpu } else { Duration::ZERO },
            last: cpu,
        });
        kind.clone_into(&mut t.kind);
        t.last = t.last.max(cpu);
    }

    fn totals(&self) -> CpuTotals {
        let mut by_kind: BTreeMap<String, Duration> = BTreeMap::new();
        for t in self.procs.values() {
            *by_kind.entry(t.kind.clone()).or_default() += t.last.saturating_sub(t.base);
        }
        CpuTotals(by_kind)
    }
}

/// CPU used per process kind since the watch started.
#[derive(Debug, Clone, Default)]
pub struct CpuTotals(BTreeMap<String, Duration>);

impl CpuTotals {
    pub fn get(&self, kind: &str) -> Duration {
        self.0.get(kind).copied().unwrap_or_default()
    }

    /// Every PostgreSQL process, ours or not.
    pub fn postgres_all(&self) -> Duration {
        self.sum(|k| k.starts_with("postgres "))
    }

    /// The backends serving our processes.
    pub fn postgres_serving_us(&self) -> Duration {
        self.sum(|k| k.starts_with(PG_SERVING))
    }

    /// The database's share of serving us: our backends and the background processes (whose
    /// work — WAL, checkpoints, autovacuum — is mostly caused by our writes during a run).
    pub fn postgres_for_us(&self) -> Duration {
        self.postgres_serving_us() + self.get(PG_BACKGROUND)
    }

    fn sum(&self, pick: impl Fn(&str) -> bool) -> Duration {
        self.0.iter().filter(|(k, _)| pick(k)).map(|(_, d)| *d).sum()
    }

    pub fn sentinel(&self, kinds: &[String]) -> Duration {
        kinds.iter().map(|k| self.get(k)).sum()
    }
}

pub struct CpuWatch {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<()>,
    kinds: Vec<String>,
}

impl CpuWatch {
    /// Starts watching `sentinel` (pid, kind) and the PostgreSQL server they reach over `link`.
    pub fn start(sentinel: Vec<(u32, String)>, link: DbLink) -> CpuWatch {
        let mut kinds: Vec<String> = sentinel.iter().map(|(_, k)| k.clone()).collect();
        kinds.dedup();
        let mut state = State {
            sentinel,
            link,
            procs: HashMap::new(),
        };
        state.sample(true);
        let state = Arc::new(Mutex::new(state));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (state, stop) = (state.clone(), stop.clone());
            tokio::spawn(async move {
                // Bounded by the run: stopped by `finish`, or aborted on drop.
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if let Ok(mut s) = state.lock() {
                        s.sample(false);
                    }
                }
            })
        };
        CpuWatch {
            state,
            stop,
            sampler,
            kinds,
        }
    }

    /// The sentinel process kinds, in start order, without repeats.
    pub fn sentinel_kinds(&self) -> &[String] {
        &self.kinds
    }

    /// Samples now and returns the CPU per kind since the start.
    pub fn read(&self) -> CpuTotals {
        match self.state.lock() {
            Ok(mut s) => {
                s.sample(false);
                s.totals()
            }
            Err(_) => CpuTotals::default(),
        }
    }

    pub fn finish(self) -> CpuTotals {
        self.stop.store(true, Ordering::Relaxed);
        let totals = self.read();
        self.sampler.abort();
        totals
    }
}

/// The split as JSON: CPU seconds per kind during the load and in total (load + drain), cores
/// during the load, and µs per accepted event over load + drain.
pub fn report(kinds: &[String], load: &CpuTotals, total: &CpuTotals, load_s: f64, events: u64) -> Value {
    let per_event = |d: Duration| {
        if events > 0 {
            d.as_secs_f64() * 1e6 / events as f64
        } else {
            0.0
        }
    };
    let entry = |l: Duration, t: Duration| {
        json!({
            "cpu_s_load": l.as_secs_f64(),
            "cores_load": l.as_secs_f64() / load_s,
            "cpu_s_total": t.as_secs_f64(),
            "us_per_event": per_event(t),
        })
    };
    let mut out = serde_json::Map::new();
    let serving: Vec<String> = kinds.iter().map(|k| format!("{PG_SERVING}{k}")).collect();
    for kind in kinds
        .iter()
        .chain(&serving)
        .map(String::as_str)
        .chain([PG_BACKGROUND, PG_OTHERS])
    {
        out.insert(kind.to_owned(), entry(load.get(kind), total.get(kind)));
    }
    out.insert(
        "sentinel (all processes)".into(),
        entry(load.sentinel(kinds), total.sentinel(kinds)),
    );
    out.insert(
        "postgres serving sentinel (all backends)".into(),
        entry(load.postgres_serving_us(), total.postgres_serving_us()),
    );
    out.insert(
        "sentinel + postgres (ours + background)".into(),
        entry(
            load.sentinel(kinds) + load.postgres_for_us(),
            total.sentinel(kinds) + total.postgres_for_us(),
        ),
    );
    Value::Object(out)
}
