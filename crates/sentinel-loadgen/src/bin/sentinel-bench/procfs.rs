//! What the benchmarks read from Linux's /proc: CPU time and memory of a process, busy time of the
//! whole machine, the size of a directory on disk, and which PostgreSQL backends serve which
//! process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

/// `/proc/<pid>/stat` counts in USER_HZ, which the kernel ABI fixes at 100 on Linux.
const TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU time of a process (`pid` 0 means this process).
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = if pid == 0 {
        "/proc/self/stat".to_owned()
    } else {
        format!("/proc/{pid}/stat")
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    cpu_from_stat(&text)
}

fn cpu_from_stat(text: &str) -> anyhow::Result<Duration> {
    // The command name in parentheses may contain spaces: count fields after the last ')'.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')' come state (field 3), …, utime (14) and stime (15).
    let utime: u64 = fields.get(11).context("no utime")?.parse().context("utime")?;
    let stime: u64 = fields.get(12).context("no stime")?.parse().context("stime")?;
    Ok(Duration::from_secs_f64((utime + stime) as f64 / TICKS_PER_SEC))
}

/// CPU time of each thread of a process, keyed by thread id, with the thread's name.
pub fn thread_cpu(pid: u32) -> anyhow::Result<BTreeMap<u32, (String, Duration)>> {
    let dir = format!("/proc/{pid}/task");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let Ok(entry) = entry else { continue };
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
            continue;
        };
        // Threads may exit between listing and reading: skip them.
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let name = text
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map(|(n, _)| n.to_owned());
        if let (Some(name), Ok(cpu)) = (name, cpu_from_stat(&text)) {
            out.insert(tid, (name, cpu));
        }
    }
    Ok(out)
}

/// CPU used by each thread between two readings, as `name#tid`, busiest first. Threads that
/// started in between count from zero.
pub fn thread_cpu_delta(
    before: &BTreeMap<u32, (String, Duration)>,
    after: &BTreeMap<u32, (String, Duration)>,
) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = after
        .iter()
        .map(|(tid, (name, cpu))| {
            let earlier = before.get(tid).map(|(_, c)| *c).unwrap_or_default();
            (
                format!("{name}#{tid}"),
                (cpu.saturating_sub(earlier).as_secs_f64() * 100.0).round() / 100.0,
            )
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// Inodes of `pid`'s open sockets.
pub fn socket_inodes(pid: u32) -> anyhow::Result<HashSet<u64>> {
    let dir = format!("/proc/{pid}/fd");
    let mut inodes = HashSet::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let Ok(entry) = entry else { continue };
        // Files may close between listing and reading: skip them.
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|i| i.parse::<u64>().ok())
        {
            inodes.insert(inode);
        }
    }
    Ok(inodes)
}

/// Local ports of the TCP connections to `remote_port` among the sockets `inodes` (a process's
/// client sockets to a database server).
pub fn tcp_client_ports(inodes: &HashSet<u64>, remote_port: u16) -> HashSet<u16> {
    let mut ports = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/net/{table}")) else {
            continue;
        };
        ports.extend(
            text.lines()
                .skip(1)
                .filter_map(|l| tcp_entry(l, remote_port, inodes)),
        );
    }
    ports
}

/// For every connected Unix-domain socket: the inode of its peer, and the process holding it —
/// from `ss -xpn`, since the kernel's /proc tables do not show peers of Unix sockets. Looking up
/// one of our sockets' inodes gives the process at the other end.
pub fn unix_peers() -> anyhow::Result<HashMap<u64, u32>> {
    let out = std::process::Command::new("ss")
        .args(["-xpn"])
        .stdin(std::process::Stdio::null())
        .output()
        .context("running ss -xpn")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().filter_map(unix_peer_entry).collect())
}

/// The peer inode and the owner's pid of an `ss -xpn` line.
fn unix_peer_entry(line: &str) -> Option<(u64, u32)> {
    // Netid State Recv-Q Send-Q Local-Address Local-Inode Peer-Address Peer-Inode Process
    let fields: Vec<&str> = line.split_whitespace().collect();
    let peer: u64 = fields.get(7)?.parse().ok()?;
    let (_, rest) = fields.get(8)?.split_once("pid=")?;
    let pid = rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    Some((peer, pid))
}

/// The local port of a `/proc/net/tcp` line whose peer port is `remote_port` and whose socket is
/// one of `inodes`.
fn tcp_entry(line: &str, remote_port: u16, inodes: &HashSet<u64>) -> Option<u16> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let port = |addr: &str| {
        addr.rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    // sl, local_address, rem_address, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode, …
    let inode: u64 = fields.get(9)?.parse().ok()?;
    if port(fields.get(2)?)? != remote_port || !inodes.contains(&inode) {
        return None;
    }
    port(fields.get(1)?)
}

/// A running PostgreSQL server process (postmaster child): its id and its title, e.g.
/// `postgres: 15/main: postgres test 127.0.0.1(45102) idle` or `postgres: 15/main: walwriter`.
#[derive(Debug, Clone)]
pub struct PgProcess {
    pub pid: u32,
    pub title: String,
}

impl PgProcess {
    /// The client's port of a backend connected over TCP; `None` for background processes and
    /// Unix-socket clients.
    pub fn client_port(&self) -> Option<u16> {
        let (_, rest) = self.title.split_once('(')?;
        rest.split_once(')')?.0.parse().ok()
    }

    /// A backend serving a client (over TCP or a Unix socket), not one of the server's own
    /// background processes.
    pub fn is_client_backend(&self) -> bool {
        self.client_port().is_some() || self.title.contains("[local]")
    }
}

/// Every process named `postgres` on the machine.
pub fn postgres_processes() -> anyhow::Result<Vec<PgProcess>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").context("listing /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        // Processes may exit between listing and reading: skip them.
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue;
        };
        if comm.trim_end() != "postgres" {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let title = String::from_utf8_lossy(&cmdline)
            .replace('\0', " ")
            .trim()
            .to_owned();
        out.push(PgProcess { pid, title });
    }
    Ok(out)
}

/// Resident memory now and at its peak (`VmRSS`, `VmHWM`), in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss: u64,
    pub peak: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kb = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Ok(Memory {
        rss: kb("VmRSS:"),
        peak: kb("VmHWM:"),
    })
}

/// Busy and total time of all CPUs since boot, from `/proc/stat`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemCpu {
    busy_ticks: u64,
}

impl SystemCpu {
    pub fn read() -> anyhow::Result<Self> {
        let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        let line = text.lines().next().context("empty /proc/stat")?;
        let values: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
        let busy = values
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 4)
            .map(|(_, v)| v)
            .take(6)
            .sum();
        Ok(SystemCpu { busy_ticks: busy })
    }

    /// CPU time all processes used between `earlier` and `self`.
    pub fn busy_since(&self, earlier: &SystemCpu) -> Duration {
        Duration::from_secs_f64(self.busy_ticks.saturating_sub(earlier.busy_ticks) as f64 / TICKS_PER_SEC)
    }
}

/// Waits until the machine uses fewer than `max_cores` cores (sampled over one second), at most
/// `deadline`. Returns the busy cores of the last sample and whether the machine was quiet.
pub async fn wait_quiet(max_cores: f64, deadline: Duration) -> anyhow::Result<(f64, bool)> {
    let started = std::time::Instant::now();
    loop {
        let a = SystemCpu::read()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = SystemCpu::read()?.busy_since(&a).as_secs_f64();
        if busy < max_cores {
            return Ok((busy, true));
        }
        if started.elapsed() >= deadline {
            return Ok((busy, false));
        }
    }
}

/// The 1, 5 and 15 minute load averages (`uptime`), to show how busy the machine was around a run.
pub fn loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut v = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([v.next()??, v.next()??, v.next()??])
}

/// Bytes of every file under `dir`, and the largest few by name.
pub fn dir_size(dir: &Path) -> anyhow::Result<(u64, Vec<(String, u64)>)> {
    let mut total = 0;
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
                let name = entry
                    .path()
                    .strip_prefix(dir)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                files.push((name, meta.len()));
            }
        }
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.1));
    files.truncate(6);
    Ok((total, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(cpu_time(0).is_ok());
        assert!(!thread_cpu(std::process::id()).unwrap().is_empty());
        let m = memory(std::process::id()).unwrap();
        assert!(m.rss > 0 && m.peak >= m.rss);
        assert!(SystemCpu::read().is_ok());
        assert!(loadavg().is_some());
    }

    #[test]
    fn finds_the_client_port_of_a_socket_in_the_tcp_table() {
        let line = "   3: 0100007F:B1DE 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 20 4 30 10 -1";
        let ours: HashSet<u64> = [4242].into();
        assert_eq!(tcp_entry(line, 5432, &ours), Some(0xB1DE));
        assert_eq!(tcp_entry(line, 5433, &ours), None);
        assert_eq!(tcp_entry(line, 5432, &HashSet::new()), None);
    }

    #[test]
    fn finds_the_process_at_the_other_end_of_a_unix_socket() {
        let server = "u_str ESTAB 0 0 /var/run/postgresql/.s.PGSQL.5432 86450 * 86449 users:((\"postgres\",pid=32677,fd=7))";
        assert_eq!(unix_peer_entry(server), Some((86449, 32677)));
        assert_eq!(
            unix_peer_entry("Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process"),
            None
        );
    }

    #[test]
    fn tells_client_backends_from_background_processes() {
        let backend = PgProcess {
            pid: 1,
            title: "postgres: 15/main: postgres test 127.0.0.1(45102) idle".into(),
        };
        assert_eq!(backend.client_port(), Some(45102));
        assert!(backend.is_client_backend());
        let walwriter = PgProcess {
            pid: 2,
            title: "postgres: 15/main: walwriter".into(),
        };
        assert_eq!(walwriter.client_port(), None);
        assert!(!walwriter.is_client_backend());
    }
}
