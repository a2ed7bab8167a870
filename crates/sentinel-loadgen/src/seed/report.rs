//! What `sentinel seed` prints: what was sent, and the story the plan tells (releases, spikes, the
//! regression, the incident), with the seed to send it again.

use std::fmt;
use std::time::Duration;

use super::catalog::Role;
use super::plan::{DAY_MS, Plan};
use crate::corpus::Platform;

/// What a seeding run achieved.
#[derive(Debug, Clone)]
pub struct SeedReport {
    /// Events answered 200.
    pub accepted: u64,
    /// Attempts repeated after 429/503 (honouring `Retry-After`) or a dropped connection.
    pub retried: u64,
    /// Events given up on.
    pub failed: u64,
    pub elapsed: Duration,
    /// The plan's seed: `--seed` with it sends the same events again.
    pub seed: u64,
    /// `host:port (project N)`.
    pub target: String,
    pub plan: PlanSummary,
}

/// One release of the plan.
#[derive(Debug, Clone)]
pub struct ReleaseLine {
    pub name: String,
    /// `None`: already running when the window starts.
    pub deployed_ms: Option<i64>,
    /// The error the deployment introduced, its platform and its events in the following day.
    pub introduced: Option<(String, Platform, u64)>,
}

/// The plan in numbers.
#[derive(Debug, Clone)]
pub struct PlanSummary {
    pub events: u64,
    pub days: u32,
    pub per_platform: Vec<(Platform, u64)>,
    /// Distinct errors among the events: each should become one issue.
    pub distinct_errors: usize,
    pub releases: Vec<ReleaseLine>,
    /// Title, platform, release that fixed it, release that brought it back, events before the fix
    /// and after the return.
    pub regression: (String, Platform, String, String, u64, u64),
    /// Start, end and events of the incident.
    pub incident: (i64, i64, u64),
    /// Nights the nightly job failed.
    pub nightly_failures: usize,
    /// Rare errors that occurred, and their events.
    pub rare: (usize, u64),
    /// Days (start, epoch ms) with at least twice the typical day's events.
    pub spike_days: Vec<(i64, u64)>,
    pub typical_day: u64,
    /// UTC hour and events, over the whole window.
    pub busiest_hour: (usize, u64),
    pub quietest_hour: (usize, u64),
}

impl PlanSummary {
    pub(crate) fn of(plan: &Plan) -> Self {
        let releases = plan
            .releases
            .iter()
            .enumerate()
            .map(|(r, rel)| {
                let introduced = plan.deploys.iter().find(|d| d.release == r).map(|d| {
                    let issue = plan.catalog[d.introduced].issue;
                    let n = plan.events_of(d.introduced, d.at_ms, d.at_ms + DAY_MS).count() as u64;
                    (issue.title(), issue.platform(), n)
                });
                ReleaseLine {
                    name: rel.name.clone(),
                    deployed_ms: rel.deployed_ms,
                    introduced,
                }
            })
            .collect();
        let reg = plan.regression;
        let deployed = |r: usize| plan.releases[r].deployed_ms.unwrap_or(plan.start_ms);
        let reg_issue = plan.catalog[reg.issue].issue;
        let regression = (
            reg_issue.title(),
            reg_issue.platform(),
            plan.releases[reg.fixed_in].name.clone(),
            plan.releases[reg.back_in].name.clone(),
            plan.events_of(reg.issue, plan.start_ms, deployed(reg.fixed_in))
                .count() as u64,
            plan.events_of(reg.issue, deployed(reg.back_in), plan.end_ms)
                .count() as u64,
        );
        let incident_events = plan
            .events
            .iter()
            .filter(|e| {
                matches!(plan.catalog[usize::from(e.issue)].role, Role::Incident(_))
                    && (plan.incident.from_ms..plan.incident.to_ms).contains(&e.timestamp_ms)
            })
            .count() as u64;
        let mut rare_issues = std::collections::BTreeSet::new();
        let mut rare_events = 0;
        for e in &plan.events {
            if matches!(plan.catalog[usize::from(e.issue)].role, Role::Rare(_)) {
                rare_issues.insert(e.issue);
                rare_events += 1;
            }
        }
        let hours = plan.per_hour_of_day();
        let by_count = |max: bool| {
            let mut best = 0;
            for h in 1..24 {
                if (max && hours[h] > hours[best]) || (!max && hours[h] < hours[best]) {
                    best = h;
                }
            }
            (best, hours[best])
        };
        PlanSummary {
            events: plan.events.len() as u64,
            days: plan.config.days,
            per_platform: plan.per_platform().into_iter().collect(),
            distinct_errors: plan
                .events
                .iter()
                .map(|e| e.issue)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            releases,
            regression,
            incident: (plan.incident.from_ms, plan.incident.to_ms, incident_events),
            nightly_failures: plan.nightly_failures.len(),
            rare: (rare_issues.len(), rare_events),
            spike_days: plan.spike_days(),
            typical_day: plan.typical_day(),
            busiest_hour: by_count(true),
            quietest_hour: by_count(false),
        }
    }
}

fn when(ms: i64, format: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format(format).to_string())
        .unwrap_or_default()
}

impl fmt::Display for PlanSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let platforms: Vec<String> = self
            .per_platform
            .iter()
            .map(|(p, n)| format!("{} {n}", p.label()))
            .collect();
        writeln!(f, "  platforms:  {}", platforms.join(", "))?;
        writeln!(
            f,
            "  errors:     {} distinct, one issue each",
            self.distinct_errors
        )?;
        for r in &self.releases {
            match (&r.deployed_ms, &r.introduced) {
                (Some(at), Some((title, platform, n))) => writeln!(
                    f,
                    "  release:    {} deployed {}, bringing {} {} ({n} events in its first day)",
                    r.name,
                    when(*at, "%a %Y-%m-%d %H:%M UTC"),
                    platform.label(),
                    title
                )?,
                _ => writeln!(f, "  release:    {} (running when the window starts)", r.name)?,
            }
        }
        let (title, platform, fixed, back, before, after) = &self.regression;
        writeln!(
            f,
            "  regression: {} {title}: {before} events, fixed in {fixed}, back in {back} with {after} more",
            platform.label()
        )?;
        let (from, to, n) = self.incident;
        writeln!(
            f,
            "  incident:   {}–{} UTC, {n} events (database connection resets, gateway timeouts)",
            when(from, "%a %Y-%m-%d %H:%M"),
            when(to, "%H:%M")
        )?;
        writeln!(
            f,
            "  nightly:    the reconciliation job failed on {} nights (02:00–02:20 UTC)",
            self.nightly_failures
        )?;
        writeln!(
            f,
            "  long tail:  {} rare errors with {} events",
            self.rare.0, self.rare.1
        )?;
        let spikes: Vec<String> = self
            .spike_days
            .iter()
            .map(|(d, n)| format!("{} ({n})", when(*d, "%a %Y-%m-%d")))
            .collect();
        writeln!(
            f,
            "  spike days: {}; a typical day has {} events",
            if spikes.is_empty() {
                "none".to_owned()
            } else {
                spikes.join(", ")
            },
            self.typical_day
        )?;
        write!(
            f,
            "  rhythm:     busiest hour {:02}:00 UTC ({} events over the window), quietest {:02}:00 UTC ({})",
            self.busiest_hour.0, self.busiest_hour.1, self.quietest_hour.0, self.quietest_hour.1
        )
    }
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "sent {} events over the past {} days to {} in {:.1} s ({:.0}/s): {} accepted, {} retried, {} failed",
            self.plan.events,
            self.plan.days,
            self.target,
            secs,
            self.accepted as f64 / secs,
            self.accepted,
            self.retried,
            self.failed
        )?;
        writeln!(f, "{}", self.plan)?;
        write!(
            f,
            "seed {} (--seed {} sends the same events again)",
            self.seed, self.seed
        )
    }
}
