//! What the benchmarks read from Linux's /proc: CPU time and memory of a process, busy time of the
//! whole machine, and the size of a directory on disk.

use std::collections::BTreeMap;
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
    }
}
