//! The verifier: each monitor's state machine over its consecutive check results, and the loop
//! (on the scheduler leader) that applies it to the results checkers queue.
//!
//! - A new or changed monitor is `pending`. Its first success makes it `up` without a
//!   notification (nothing recovered); `failure_threshold` failures in a row make it `down`.
//! - `up` becomes `down` after `failure_threshold` consecutive failures; `down` becomes `up` after
//!   `recovery_threshold` consecutive successes. One result the other way resets the count.
//! - While a count is running (a failure while up, a success while down) the monitor is checked
//!   again after a quarter of its interval instead of a whole one, so a real outage is confirmed
//!   within about 1.5 intervals of its start, not `failure_threshold` intervals.
//! - Going down opens an incident with the confirming check as evidence; coming back resolves it.
//!   Both go to the project's `monitor_down` alert rules, which notify once per transition (and
//!   remind while down only if the rule asks).
//! - Each successful HTTPS check carries its certificate's expiry: the project's `cert_expiring`
//!   rules fire for the monitor when fewer than their `days` are left, and resolve once a later
//!   check sees a certificate valid for longer.
//!
//! - A monitor checked from several regions is judged slot by slot: a slot fails when a quorum of
//!   its regions (a majority unless set) failed it, so one region's network trouble raises no
//!   alarm. A slot waits on the queue until every region reported or the slowest had its
//!   timeout and a grace period.
//!
//! A result for a slot older than the newest one judged (a slow check overtaken by a re-check)
//! is taken off the queue without effect.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sentinel_store::{
    AlertMessage, AlertRule, AlertState, Channel, CheckResult, Condition, DAY_MS, IncidentChange,
    MaintenanceWindow, Monitor, MonitorState, MonitorStatus, Project, Store, StoreError, Transition,
    VerifierCommit,
};
use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::alerts::rules;
use crate::clock::{Clock, rfc3339};
use crate::config::Settings;
use crate::uptime::maintenance::in_maintenance;
use crate::uptime::probe::date;
use crate::uptime::spec::Check;

/// Results judged per pass.
const BATCH: usize = 2_000;
/// The shortest faster re-check delay.
const MIN_RECHECK_MS: i64 = 2_000;
/// How long the verifier waits for work when it found none (checkers in this process wake it).
const IDLE: Duration = Duration::from_millis(500);

/// What the state machine needs of a monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Machine {
    pub status: MonitorStatus,
    pub since_ms: i64,
    pub streak: u32,
    pub failure_threshold: u32,
    pub recovery_threshold: u32,
    pub interval_ms: i64,
}

impl Machine {
    pub fn of(m: &Monitor) -> Self {
        Machine {
            status: m.status,
            since_ms: m.status_since_ms,
            streak: m.streak,
            failure_threshold: m.failure_threshold.max(1),
            recovery_threshold: m.recovery_threshold.max(1),
            interval_ms: m.interval_ms,
        }
    }

    /// Applies one check result at `at_ms`; answers the status it left, if it changed.
    pub fn apply(&mut self, ok: bool, at_ms: i64) -> Option<MonitorStatus> {
        let from = self.status;
        // The threshold and destination of a result that goes against the status, if it does.
        let against = match (from, ok) {
            (MonitorStatus::Pending, true) => Some((1, MonitorStatus::Up)),
            (MonitorStatus::Pending | MonitorStatus::Up, false) => {
                Some((self.failure_threshold, MonitorStatus::Down))
            }
            (MonitorStatus::Down, true) => Some((self.recovery_threshold, MonitorStatus::Up)),
            (MonitorStatus::Up, true) | (MonitorStatus::Down, false) => None,
        };
        let Some((threshold, to)) = against else {
            self.streak = 0;
            return None;
        };
        self.streak += 1;
        if self.streak < threshold {
            return None;
        }
        self.status = to;
        self.since_ms = at_ms;
        self.streak = 0;
        Some(from)
    }

    /// When to check again if a change is being confirmed.
    pub fn recheck(&self, now_ms: i64) -> Option<i64> {
        (self.streak > 0).then(|| now_ms + (self.interval_ms / 4).max(MIN_RECHECK_MS))
    }
}

/// How long after a slot's first result its other regions have to report (on top of the
/// monitor's timeout) before the slot is judged without them.
const REGION_GRACE_MS: i64 = 10_000;

/// The results of one slot of a monitor (one per region that reported).
struct Slot {
    slot_ms: i64,
    results: Vec<CheckResult>,
}

/// A monitor's queued results by slot, oldest first; within a slot, by id.
fn slots(mut list: Vec<CheckResult>) -> Vec<Slot> {
    list.sort_by_key(|r| (r.slot_ms, r.id));
    let mut out: Vec<Slot> = Vec::new();
    for r in list {
        match out.last_mut() {
            Some(s) if s.slot_ms == r.slot_ms => s.results.push(r),
            _ => out.push(Slot {
                slot_ms: r.slot_ms,
                results: vec![r],
            }),
        }
    }
    out
}

/// A slot's outcome: whether it passed, when it was decided, and the result that shows it.
struct Verdict {
    ok: bool,
    at_ms: i64,
    evidence: CheckResult,
}

/// How many of `regions` failing a slot fail it: `quorum`, or a majority when 0.
pub fn quorum_of(regions: usize, quorum: u32) -> usize {
    if quorum == 0 {
        regions / 2 + 1
    } else {
        quorum as usize
    }
}

/// Judges one slot of `monitor` from its results at `now_ms`; `None` while regions that have not
/// reported still have time. A monitor without regions is judged on its one result. With regions,
/// the slot fails when at least the quorum of them failed it; regions that did not report in
/// time do not count, and the quorum is then at most the number that did.
fn judge(monitor: &Monitor, results: &[CheckResult], now_ms: i64) -> Option<Verdict> {
    let mut reported: Vec<&CheckResult> = Vec::with_capacity(results.len());
    for r in results {
        if !reported.iter().any(|o| o.region == r.region) {
            reported.push(r);
        }
    }
    let first = *reported.first()?;
    let expected = monitor.regions.len().max(1);
    if reported.len() < expected {
        let first_start = reported.iter().map(|r| r.started_ms.max(r.slot_ms)).min()?;
        if now_ms < first_start + monitor.timeout_ms + REGION_GRACE_MS {
            return None;
        }
    }
    let failed: Vec<&CheckResult> = reported.iter().copied().filter(|r| !r.ok).collect();
    let needed = quorum_of(expected, monitor.region_quorum)
        .min(reported.len())
        .max(1);
    let ok = failed.len() < needed;
    let at_ms = reported.iter().map(|r| r.started_ms + r.latency_ms).max()?;
    let evidence = if ok { first } else { failed[0] };
    Some(Verdict {
        ok,
        at_ms,
        evidence: evidence.clone(),
    })
}

/// A certificate expiry that a successful check read, in the order the checks ran.
struct CertReading {
    monitor: Monitor,
    /// When the check ended.
    at_ms: i64,
    expires_ms: i64,
}

impl CertReading {
    /// Whole days left at the check (negative once expired).
    fn days_left(&self) -> i64 {
        (self.expires_ms - self.at_ms).div_euclid(DAY_MS)
    }
}

/// Projects and their channels, read once per pass.
#[derive(Default)]
struct Lookups {
    projects: HashMap<i64, Option<Project>>,
    channels: HashMap<i64, Vec<Channel>>,
}

impl Lookups {
    async fn project(&mut self, store: &dyn Store, id: i64) -> anyhow::Result<Option<Project>> {
        if let std::collections::hash_map::Entry::Vacant(e) = self.projects.entry(id) {
            e.insert(store.get_project(id).await?);
            self.channels.insert(id, store.list_channels(Some(id)).await?);
        }
        Ok(self.projects.get(&id).cloned().flatten())
    }

    /// The enabled channels of `rule` (of project `id`, looked up before).
    fn targets(&self, rule: &AlertRule, id: i64) -> Vec<Channel> {
        self.channels
            .get(&id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter(|c| c.enabled && rule.channel_ids.contains(&c.id))
            .cloned()
            .collect()
    }
}

/// One monitor's status change in a pass.
struct Change {
    monitor: Monitor,
    from: MonitorStatus,
    to: MonitorStatus,
    at_ms: i64,
    /// When the status it left had begun.
    from_since_ms: i64,
    evidence: CheckResult,
}

pub struct Verifier {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// This process's notifier, woken when a pass queued notifications.
    pub notifier_wake: Option<Arc<Notify>>,
}

impl Verifier {
    /// Passes until `shutdown`, while `leading` (checked before each pass).
    pub async fn run(
        self,
        wake: Arc<Notify>,
        leading: Arc<std::sync::atomic::AtomicBool>,
        shutdown: watch::Receiver<bool>,
    ) {
        crate::run_rounds("uptime verification", &wake, IDLE, shutdown, || async {
            if !leading.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(0);
            }
            self.pass().await
        })
        .await;
    }

    /// Judges up to one batch of queued results; answers how many it took off the queue.
    pub async fn pass(&self) -> anyhow::Result<usize> {
        let results = self
            .store
            .unverified_results(BATCH)
            .await
            .context("reading check results to verify")?;
        if results.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now_ms();
        let mut by_monitor: BTreeMap<i64, Vec<CheckResult>> = BTreeMap::new();
        for r in &results {
            by_monitor.entry(r.monitor_id).or_default().push(r.clone());
        }
        let ids: Vec<i64> = by_monitor.keys().copied().collect();
        let monitors = self.store.get_monitors(&ids).await?;
        let mut commit = VerifierCommit::default();
        // Results of slots that wait for more regions: left on the queue.
        let mut held: std::collections::HashSet<i64> = std::collections::HashSet::new();
        let mut changes = Vec::new();
        let mut still_down = Vec::new();
        let mut certs = Vec::new();
        // Each project's maintenance windows, read once per pass.
        let mut windows: HashMap<i64, Vec<MaintenanceWindow>> = HashMap::new();
        for monitor in monitors {
            if let std::collections::hash_map::Entry::Vacant(e) = windows.entry(monitor.project_id) {
                e.insert(self.store.list_maintenance(monitor.project_id).await?);
            }
            let planned = &windows[&monitor.project_id];
            let list = by_monitor.remove(&monitor.id).unwrap_or_default();
            let mut machine = Machine::of(&monitor);
            let mut last = monitor.last_check_ms;
            let mut changed = false;
            for slot in slots(list) {
                if last.is_some_and(|l| slot.slot_ms <= l) {
                    continue;
                }
                let Some(verdict) = judge(&monitor, &slot.results, now) else {
                    // Regions still to report: this slot and the later ones wait for the next pass.
                    held.extend(slot.results.iter().map(|r| r.id));
                    break;
                };
                last = Some(slot.slot_ms);
                for r in slot.results.iter().filter(|r| r.ok) {
                    if let Some(expires_ms) = r.details.get("cert_expires_ms").and_then(|v| v.as_i64()) {
                        certs.push(CertReading {
                            monitor: monitor.clone(),
                            at_ms: r.started_ms + r.latency_ms,
                            expires_ms,
                        });
                    }
                }
                // Planned downtime: judged (off the queue) but set aside.
                if in_maintenance(planned, monitor.id, verdict.at_ms) {
                    continue;
                }
                let from_since_ms = machine.since_ms;
                if let Some(from) = machine.apply(verdict.ok, verdict.at_ms) {
                    changed = true;
                    changes.push(Change {
                        monitor: monitor.clone(),
                        from,
                        to: machine.status,
                        at_ms: verdict.at_ms,
                        from_since_ms,
                        evidence: verdict.evidence,
                    });
                }
            }
            if machine.status == MonitorStatus::Down && !changed && !in_maintenance(planned, monitor.id, now)
            {
                still_down.push(monitor.clone());
            }
            commit.states.push(MonitorState {
                monitor_id: monitor.id,
                status: machine.status,
                status_since_ms: machine.since_ms,
                streak: machine.streak,
                last_check_ms: last,
                // A heartbeat's next "check" is its deadline: never brought forward.
                recheck_ms: machine.recheck(now).filter(|_| monitor.kind.is_active()),
            });
        }
        commit.verified = results
            .iter()
            .map(|r| r.id)
            .filter(|id| !held.contains(id))
            .collect();
        for c in &changes {
            match (c.from, c.to) {
                (_, MonitorStatus::Down) => commit.incidents.push(IncidentChange::Open {
                    monitor_id: c.monitor.id,
                    at_ms: c.at_ms,
                    evidence: evidence(&c.evidence),
                }),
                (MonitorStatus::Down, MonitorStatus::Up) => commit.incidents.push(IncidentChange::Resolve {
                    monitor_id: c.monitor.id,
                    at_ms: c.at_ms,
                }),
                _ => {}
            }
        }
        if !changes.is_empty() || !still_down.is_empty() || !certs.is_empty() {
            self.alerts(&changes, &still_down, &certs, now, &mut commit)
                .await?;
        }
        let taken = commit.verified.len();
        match self.store.commit_verification(&commit).await {
            Ok(queued) => {
                for c in &changes {
                    tracing::info!(
                        monitor.id = c.monitor.id,
                        from = c.from.as_str(),
                        to = c.to.as_str(),
                        "monitor status changed"
                    );
                }
                if queued > 0
                    && let Some(w) = &self.notifier_wake
                {
                    w.notify_one();
                }
                Ok(taken)
            }
            // Another verifier (a lease hand-over) judged them first.
            Err(StoreError::Conflict(m)) => {
                tracing::info!(reason = %m, "check results were verified elsewhere");
                Ok(0)
            }
            Err(e) => Err(e).context("writing the verification"),
        }
    }

    /// Alert states and notifications of the monitor rules for this pass: `monitor_down` rules on
    /// transitions (and reminders for monitors that stay down), `cert_expiring` rules on the
    /// certificates read.
    async fn alerts(
        &self,
        changes: &[Change],
        still_down: &[Monitor],
        certs: &[CertReading],
        now: i64,
        commit: &mut VerifierCommit,
    ) -> anyhow::Result<()> {
        let rules = self
            .store
            .enabled_rules(&["monitor_down", "cert_expiring"])
            .await?;
        if rules.is_empty() {
            return Ok(());
        }
        let (down_rules, cert_rules): (Vec<AlertRule>, Vec<AlertRule>) = rules
            .into_iter()
            .partition(|r| matches!(r.condition, Condition::MonitorDown { .. }));
        let mut look = Lookups::default();
        let mut latest: HashMap<(i64, String), AlertState> = HashMap::new();
        if !down_rules.is_empty() {
            self.down_alerts(
                &down_rules,
                changes,
                still_down,
                now,
                &mut look,
                &mut latest,
                commit,
            )
            .await?;
        }
        if !cert_rules.is_empty() {
            self.cert_alerts(&cert_rules, certs, &mut look, &mut latest, commit)
                .await?;
        }
        commit.alerts.states.extend(latest.into_values());
        Ok(())
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one pass's inputs and the caches it shares with the other monitor rules"
    )]
    async fn down_alerts(
        &self,
        rules: &[AlertRule],
        changes: &[Change],
        still_down: &[Monitor],
        now: i64,
        look: &mut Lookups,
        latest: &mut HashMap<(i64, String), AlertState>,
        commit: &mut VerifierCommit,
    ) -> anyhow::Result<()> {
        let subjects = changes
            .iter()
            .map(|c| (&c.monitor, Some(c)))
            .chain(still_down.iter().map(|m| (m, None)));
        for (monitor, change) in subjects {
            let watching: Vec<&AlertRule> = rules
                .iter()
                .filter(|r| {
                    r.project_id == Some(monitor.project_id) && r.condition.watches_monitor(monitor.id)
                })
                .collect();
            if watching.is_empty() {
                continue;
            }
            let down = change.is_none_or(|c| c.to == MonitorStatus::Down);
            if change.is_none() && watching.iter().all(|r| r.reminder_ms.is_none()) {
                continue;
            }
            let Some(project) = look.project(self.store.as_ref(), monitor.project_id).await? else {
                continue;
            };
            let subject = format!("monitor:{}", monitor.id);
            for rule in watching {
                // A monitor may change twice in one pass (down, then up again): the second step
                // starts from the state the first one left.
                let key = (rule.id, subject.clone());
                let prev = match latest.get(&key) {
                    Some(state) => Some(state.clone()),
                    None => self.store.get_alert_state(rule.id, &subject).await?,
                };
                // A transition counts from when it happened, so a down and an up judged in one
                // pass are queued (and delivered) in that order; a reminder from now.
                let at = change.map_or(now, |c| c.at_ms);
                let Some(step) = rules::step(rule, prev.as_ref(), &subject, down, None, at) else {
                    continue;
                };
                if let Some(t) = step.notify {
                    let message = self.message(&project, monitor, change, t);
                    let targets = look.targets(rule, monitor.project_id);
                    commit
                        .alerts
                        .notifications
                        .extend(crate::alerts::engine::notifications(
                            rule, &step, &message, &targets, at,
                        ));
                }
                latest.insert(key, step.state);
            }
        }
        Ok(())
    }

    /// Each certificate read, against the `cert_expiring` rules watching its monitor: fewer days
    /// left than the rule's fire it for the monitor, as many or more resolve it.
    async fn cert_alerts(
        &self,
        rules: &[AlertRule],
        certs: &[CertReading],
        look: &mut Lookups,
        latest: &mut HashMap<(i64, String), AlertState>,
        commit: &mut VerifierCommit,
    ) -> anyhow::Result<()> {
        // Each rule's states, read once per pass when one of its monitors was checked.
        let mut stored: HashMap<i64, HashMap<String, AlertState>> = HashMap::new();
        for reading in certs {
            let monitor = &reading.monitor;
            let subject = format!("monitor:{}", monitor.id);
            for rule in rules {
                let Condition::CertExpiring { days, .. } = rule.condition else {
                    continue;
                };
                if rule.project_id != Some(monitor.project_id) || !rule.condition.watches_monitor(monitor.id)
                {
                    continue;
                }
                let key = (rule.id, subject.clone());
                let prev = match latest.get(&key) {
                    Some(state) => Some(state.clone()),
                    None => {
                        if let std::collections::hash_map::Entry::Vacant(e) = stored.entry(rule.id) {
                            let states = self.store.alert_states(rule.id).await?;
                            e.insert(states.into_iter().map(|s| (s.subject.clone(), s)).collect());
                        }
                        stored.get(&rule.id).and_then(|s| s.get(&subject)).cloned()
                    }
                };
                let holds = reading.expires_ms - reading.at_ms < i64::from(days) * DAY_MS;
                let left = Some(reading.days_left() as f64);
                let Some(step) = rules::step(rule, prev.as_ref(), &subject, holds, left, reading.at_ms)
                else {
                    continue;
                };
                if let Some(t) = step.notify
                    && let Some(project) = look.project(self.store.as_ref(), monitor.project_id).await?
                {
                    let message = self.cert_message(&project, reading, t);
                    let targets = look.targets(rule, monitor.project_id);
                    commit
                        .alerts
                        .notifications
                        .extend(crate::alerts::engine::notifications(
                            rule,
                            &step,
                            &message,
                            &targets,
                            reading.at_ms,
                        ));
                }
                latest.insert(key, step.state);
            }
        }
        Ok(())
    }

    fn cert_message(&self, project: &Project, reading: &CertReading, transition: Transition) -> AlertMessage {
        let monitor = &reading.monitor;
        let target = Check::from_config(monitor.kind, &monitor.config)
            .map(|c| c.target())
            .unwrap_or_default();
        let on = date(reading.expires_ms);
        let left = reading.days_left();
        let fields = vec![
            ("Project".into(), project.name.clone()),
            ("Monitor".into(), monitor.name.clone()),
            ("Target".into(), target.clone()),
            ("Expires".into(), rfc3339(reading.expires_ms)),
        ];
        let url = Some(crate::alerts::dashboard_url(
            &self.settings,
            &format!("/orgs/{}/monitors/{}/", project.org_slug, monitor.id),
        ));
        if transition == Transition::Resolved {
            return AlertMessage {
                title: format!("Certificate of {} renewed", monitor.name),
                text: format!(
                    "{target} now presents a TLS certificate valid until {} ({}).",
                    rfc3339(reading.expires_ms),
                    days_text(left)
                ),
                url,
                severity: "info".into(),
                fields,
            };
        }
        let (title, severity) = match left {
            ..0 => (
                format!("Certificate of {} expired on {on}", monitor.name),
                "critical",
            ),
            0 => (
                format!("Certificate of {} expires within a day (on {on})", monitor.name),
                "critical",
            ),
            n => (
                format!(
                    "Certificate of {} expires in {} (on {on})",
                    monitor.name,
                    days_text(n)
                ),
                "warning",
            ),
        };
        AlertMessage {
            title,
            text: format!(
                "{target} presents a TLS certificate valid until {}: renew it before then.",
                rfc3339(reading.expires_ms)
            ),
            url,
            severity: severity.into(),
            fields,
        }
    }

    fn message(
        &self,
        project: &Project,
        monitor: &Monitor,
        change: Option<&Change>,
        transition: Transition,
    ) -> AlertMessage {
        let target = Check::from_config(monitor.kind, &monitor.config)
            .map(|c| c.target())
            .unwrap_or_default();
        let mut fields = vec![
            ("Project".into(), project.name.clone()),
            ("Monitor".into(), monitor.name.clone()),
            ("Target".into(), target.clone()),
        ];
        let evidence = change.map(|c| &c.evidence);
        if let Some(code) = evidence.and_then(|e| e.status_code) {
            fields.push(("Status".into(), code.to_string()));
        }
        let url = Some(crate::alerts::dashboard_url(
            &self.settings,
            &format!("/orgs/{}/monitors/{}/", project.org_slug, monitor.id),
        ));
        let passive = !monitor.kind.is_active();
        if transition == Transition::Resolved {
            let (since, at) = change.map_or((monitor.status_since_ms, monitor.status_since_ms), |c| {
                (c.from_since_ms, c.at_ms)
            });
            fields.push(("Down for".into(), duration_text(at - since)));
            if passive {
                return AlertMessage {
                    title: format!("{} checks in again", monitor.name),
                    text: format!(
                        "Runs are on time again ({target}; failing since {}).",
                        rfc3339(since)
                    ),
                    url,
                    severity: "info".into(),
                    fields,
                };
            }
            return AlertMessage {
                title: format!("{} is up again", monitor.name),
                text: format!("{target} answers again (down since {}).", rfc3339(since)),
                url,
                severity: "info".into(),
                fields,
            };
        }
        let error = evidence
            .and_then(|e| e.error.clone())
            .unwrap_or_else(|| "the check failed".into());
        fields.push(("Error".into(), error.clone()));
        if passive {
            // "run missed", "run failed", "run timed out": what the sweep or the check-in said.
            let what = error.split(':').next().unwrap_or("run failed");
            return AlertMessage {
                title: format!("{}: {what}", monitor.name),
                text: format!("{} expects {target}: {error}", monitor.name),
                url,
                severity: "critical".into(),
                fields,
            };
        }
        AlertMessage {
            title: if transition == Transition::Reminder {
                format!("{} is still down", monitor.name)
            } else {
                format!("{} is down", monitor.name)
            },
            text: format!(
                "{target} failed {} checks in a row: {error}",
                monitor.failure_threshold.max(1)
            ),
            url,
            severity: "critical".into(),
            fields,
        }
    }
}

/// What an incident keeps of the check that confirmed it.
fn evidence(r: &CheckResult) -> serde_json::Value {
    json!({
        "slot_ms": r.slot_ms,
        "region": r.region,
        "status_code": r.status_code,
        "error": r.error,
        "latency_ms": r.latency_ms,
        "body_excerpt": r.details.get("body_excerpt"),
    })
}

/// `1 day`, `5 days`.
fn days_text(n: i64) -> String {
    if n.abs() == 1 {
        format!("{n} day")
    } else {
        format!("{n} days")
    }
}

/// `3 min 20 s`, `2 h 5 min`.
pub fn duration_text(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn machine(status: MonitorStatus) -> Machine {
        Machine {
            status,
            since_ms: 0,
            streak: 0,
            failure_threshold: 3,
            recovery_threshold: 2,
            interval_ms: 60_000,
        }
    }

    #[test]
    fn a_single_failure_changes_nothing_but_asks_for_a_recheck() {
        let mut m = machine(MonitorStatus::Up);
        assert_eq!(m.apply(false, 1_000), None);
        assert_eq!(m.status, MonitorStatus::Up);
        assert_eq!(m.recheck(1_000), Some(16_000));
        assert_eq!(m.apply(true, 2_000), None);
        assert_eq!(m.recheck(2_000), None);
    }

    #[test]
    fn three_failures_go_down_and_two_successes_come_back() {
        let mut m = machine(MonitorStatus::Up);
        assert_eq!(m.apply(false, 1), None);
        assert_eq!(m.apply(false, 2), None);
        assert_eq!(m.apply(false, 3), Some(MonitorStatus::Up));
        assert_eq!((m.status, m.since_ms), (MonitorStatus::Down, 3));
        assert_eq!(m.apply(true, 4), None);
        assert_eq!(m.apply(true, 5), Some(MonitorStatus::Down));
        assert_eq!(m.status, MonitorStatus::Up);
    }

    #[test]
    fn a_new_monitor_is_up_at_its_first_success() {
        let mut m = machine(MonitorStatus::Pending);
        assert_eq!(m.apply(true, 1), Some(MonitorStatus::Pending));
        assert_eq!(m.status, MonitorStatus::Up);
    }

    /// How many down and up transitions (out of down) a sequence of results produces.
    fn transitions(results: &[bool]) -> (usize, usize) {
        let mut m = machine(MonitorStatus::Up);
        let (mut down, mut up) = (0, 0);
        for (i, ok) in results.iter().enumerate() {
            match m.apply(*ok, i as i64) {
                Some(_) if m.status == MonitorStatus::Down => down += 1,
                Some(MonitorStatus::Down) => up += 1,
                _ => {}
            }
        }
        (down, up)
    }

    proptest! {
        /// Isolated failures (never three in a row) never take an up monitor down.
        #[test]
        fn blips_never_alert(pattern in proptest::collection::vec(0u8..3, 1..200)) {
            // Each element: 0 → ok, 1 → one failure then ok, 2 → two failures then ok.
            let mut results = Vec::new();
            for p in pattern {
                results.extend(std::iter::repeat_n(false, p as usize));
                results.push(true);
            }
            prop_assert_eq!(transitions(&results), (0, 0));
        }

        /// Each real outage (at least three failures, then at least two successes) gives exactly
        /// one down and one up transition, whatever blips come between outages.
        #[test]
        fn each_outage_is_one_down_and_one_up(
            outages in proptest::collection::vec((3usize..10, 2usize..10, 0u8..3), 1..20)
        ) {
            let mut results = Vec::new();
            for (fails, oks, blip) in &outages {
                results.extend(std::iter::repeat_n(false, *fails));
                results.extend(std::iter::repeat_n(true, *oks));
                results.extend(std::iter::repeat_n(false, *blip as usize));
                results.extend(std::iter::repeat_n(true, 2));
            }
            prop_assert_eq!(transitions(&results), (outages.len(), outages.len()));
        }
    }
}
