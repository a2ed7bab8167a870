//! The alert engine: evaluates rules and writes what they decide (states and outbox rows) in one
//! transaction per evaluation.
//!
//! - `process_triggers` (every worker process): the new-issue and regression triggers that
//!   `apply_batch` left, claimed with a lease so a crashed evaluator's triggers come back.
//! - `evaluate` (the scheduler leader, every `alerts.evaluate_secs`): threshold rules over rollups
//!   (issue frequency, event rate, tenants) and the instance's health (inbox lag, ingest
//!   rejections, free disk).
//!
//! Every scheduled kind works the same way: measure, per subject, where it stands against the
//! condition (`Reading::level`), pass it through `rules::advance` with the rule's opening (K
//! evaluations in a row for the tenant kinds, at once for the others), and commit the result.
//! Uptime monitors are judged by the uptime verifier through the same `rules` functions.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sentinel_store::{
    AlertCommit, AlertMessage, AlertRule, AlertState, Channel, Condition, CountScope, Issue, NewAlertRule,
    NewNotification, Project, Store, Transition, TriggerKind,
};

use tokio::sync::{Notify, watch};

use crate::alerts::rules::{self, Level, Opening, Step};
use crate::alerts::{dashboard_url, disk, issue_url, tenants};
use crate::clock::{Clock, rfc3339};
use crate::config::Settings;
use crate::tenants::read;
use crate::tenants::summary::Summary;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
/// Triggers claimed per round.
const TRIGGER_BATCH: usize = 200;
/// How long claimed triggers stay with this evaluator before another may take them.
const TRIGGER_LEASE_MS: i64 = 60_000;
/// How often an idle trigger loop looks for triggers nobody woke it for.
const TRIGGER_POLL: Duration = Duration::from_secs(5);
/// Rule kinds the worker fires from triggers.
const EVENT_KINDS: [&str; 2] = ["new_issue", "regression"];
/// Rule kinds the leader evaluates on its schedule.
const SCHEDULED_KINDS: [&str; 8] = [
    "issue_frequency",
    "event_rate",
    "inbox_lag",
    "ingest_rejections",
    "disk_free",
    "tenant_errors",
    "tenant_share",
    "tenant_latency",
];
/// The window of the built-in ingest rejection rule, minutes.
const REJECTION_WINDOW_MINUTES: u32 = 10;
/// Outcomes that are not rejections of the ingest path: accepted items, and what clients dropped
/// or filtered themselves before sending.
const NOT_REJECTED: [&str; 3] = ["accepted", "client_discard", "filtered"];

pub struct Engine {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// Wakes this process's notifier when notifications were queued.
    pub notifier_wake: Option<Arc<Notify>>,
}

/// Per-evaluation lookups, so a batch of triggers reads each project and channel list once, and
/// the tenant rules of a project each request window once.
#[derive(Default)]
pub(crate) struct Lookups {
    projects: HashMap<i64, Option<Project>>,
    channels: HashMap<Option<i64>, Vec<Channel>>,
    /// Merged request summaries by project, since, until and whether with latency.
    windows: HashMap<(i64, i64, i64, bool), Arc<Summary>>,
}

impl Engine {
    /// Evaluates one round of triggers; returns how many it consumed (0 when there were none).
    pub async fn process_triggers(&self) -> anyhow::Result<usize> {
        let now = self.clock.now_ms();
        let triggers = self
            .store
            .claim_alert_triggers(TRIGGER_BATCH, now, TRIGGER_LEASE_MS)
            .await
            .context("claiming alert triggers")?;
        if triggers.is_empty() {
            return Ok(0);
        }
        let rules = self
            .store
            .enabled_rules(&EVENT_KINDS)
            .await
            .context("loading event rules")?;
        let mut look = Lookups::default();
        let mut commit = AlertCommit {
            consumed_triggers: triggers.iter().map(|t| t.id).collect(),
            ..Default::default()
        };
        // States written in this round, so two triggers of one issue see each other.
        let mut states: BTreeMap<(i64, String), AlertState> = BTreeMap::new();
        for trigger in &triggers {
            let matching: Vec<&AlertRule> = rules
                .iter()
                .filter(|r| {
                    r.project_id == Some(trigger.project_id) && r.condition.kind() == trigger.kind.as_str()
                })
                .collect();
            if matching.is_empty() {
                continue;
            }
            let Some(issue) = self.store.get_issue(trigger.issue_id).await? else {
                continue; // deleted since
            };
            let Some(project) = look.project(self.store.as_ref(), trigger.project_id).await? else {
                continue;
            };
            let subject = format!("issue:{}", issue.id);
            let message = issue_message(&self.settings, &project, &issue, trigger.kind);
            for rule in matching {
                let key = (rule.id, subject.clone());
                let prev = match states.get(&key) {
                    Some(s) => Some(s.clone()),
                    None => self.store.get_alert_state(rule.id, &subject).await?,
                };
                let step = rules::fire(rule, prev.as_ref(), &subject, trigger.at_ms);
                let channels = look.channels_of(self.store.as_ref(), rule).await?;
                commit
                    .notifications
                    .extend(notifications(rule, &step, &message, &channels, now));
                states.insert(key, step.state);
            }
        }
        commit.states = states.into_values().collect();
        let new = self
            .store
            .commit_alerts(&commit)
            .await
            .context("committing alert triggers")?;
        self.queued(new);
        Ok(triggers.len())
    }

    fn queued(&self, n: u64) {
        metrics::counter!("sentinel_alert_notifications_queued_total").increment(n);
        if n > 0
            && let Some(wake) = &self.notifier_wake
        {
            wake.notify_one();
        }
    }

    /// Processes triggers until `shutdown`: at once when `wake` fires (a batch created or reopened
    /// issues), else every few seconds for triggers of other nodes or of a crashed round.
    pub async fn run_triggers(self, wake: Arc<Notify>, shutdown: watch::Receiver<bool>) {
        crate::run_rounds("evaluating alert triggers", &wake, TRIGGER_POLL, shutdown, || {
            self.process_triggers()
        })
        .await;
    }

    /// Evaluates every enabled scheduled rule once; returns how many notifications were queued.
    pub async fn evaluate(&self) -> anyhow::Result<u64> {
        let rules = self
            .store
            .enabled_rules(&SCHEDULED_KINDS)
            .await
            .context("loading scheduled rules")?;
        let mut look = Lookups::default();
        let mut queued = 0;
        for rule in &rules {
            // One rule failing (a project deleted meanwhile, say) does not stop the others.
            match self.evaluate_rule(rule, &mut look).await {
                Ok(n) => queued += n,
                Err(e) => tracing::warn!(
                    rule.id = rule.id,
                    error = format!("{e:#}"),
                    "evaluating an alert rule failed"
                ),
            }
        }
        self.queued(queued);
        Ok(queued)
    }

    async fn evaluate_rule(&self, rule: &AlertRule, look: &mut Lookups) -> anyhow::Result<u64> {
        let now = self.clock.now_ms();
        let prev: HashMap<String, AlertState> = self
            .store
            .alert_states(rule.id)
            .await?
            .into_iter()
            .map(|s| (s.subject.clone(), s))
            .collect();
        // Subjects in an episode or on a streak towards one: rules that can say why they left
        // measure them even when they are gone from the data (a tenant without requests now).
        let tracked: Vec<&str> = prev
            .values()
            .filter(|s| s.firing || s.streak > 0)
            .map(|s| s.subject.as_str())
            .collect();
        let readings = self.read(rule, look, now, &tracked).await?;
        let opening = Opening {
            evaluations: rule.condition.evaluations(),
            interval_ms: (self.settings.alerts.evaluate_secs as i64).saturating_mul(1000),
        };
        let mut commit = AlertCommit::default();
        let channels = look.channels_of(self.store.as_ref(), rule).await?;
        // Subjects measured now, then tracked subjects that were not (they left the condition).
        let mut seen = std::collections::HashSet::new();
        for reading in &readings {
            seen.insert(reading.subject.as_str());
            let Some(step) = rules::advance(
                rule,
                prev.get(&reading.subject),
                &reading.subject,
                reading.level,
                opening,
                reading.value,
                now,
            ) else {
                continue;
            };
            commit.notifications.extend(notifications(
                rule,
                &step,
                &reading.message(step.notify),
                &channels,
                now,
            ));
            commit.states.push(step.state);
        }
        for state in prev
            .values()
            .filter(|s| (s.firing || s.streak > 0) && !seen.contains(s.subject.as_str()))
        {
            let Some(step) = rules::advance(
                rule,
                Some(state),
                &state.subject,
                Level::Under,
                opening,
                None,
                now,
            ) else {
                continue;
            };
            if step.notify.is_some() {
                let message = self.recovered_message(rule, &state.subject, look).await?;
                commit
                    .notifications
                    .extend(notifications(rule, &step, &message, &channels, now));
            }
            commit.states.push(step.state);
        }
        if commit.states.is_empty() {
            return Ok(0);
        }
        Ok(self.store.commit_alerts(&commit).await?)
    }

    /// What a scheduled rule measures now, per subject; `tracked` are the subjects in an episode
    /// or on a streak. Project rules whose project is gone measure nothing.
    async fn read(
        &self,
        rule: &AlertRule,
        look: &mut Lookups,
        now: i64,
        tracked: &[&str],
    ) -> anyhow::Result<Vec<Reading>> {
        let window_end = now - now.rem_euclid(MINUTE_MS) + MINUTE_MS;
        match &rule.condition {
            Condition::IssueFrequency { events, minutes } => {
                let Some(project) = self.rule_project(rule, look).await? else {
                    return Ok(Vec::new());
                };
                let since = window_end - i64::from(*minutes) * MINUTE_MS;
                let counts = self
                    .store
                    .issue_counts_over(project.id, since, window_end, *events)
                    .await?;
                let mut out = Vec::with_capacity(counts.len());
                for (issue_id, count) in counts {
                    let title = match self.store.get_issue(issue_id).await? {
                        Some(issue) => issue.title,
                        None => continue,
                    };
                    out.push(Reading {
                        subject: format!("issue:{issue_id}"),
                        level: Level::Over,
                        value: Some(count as f64),
                        title: format!("{count} events in {minutes} min: {title}"),
                        text: format!(
                            "The issue had {count} events in the last {minutes} minutes (the rule's \
                             limit is {events})."
                        ),
                        // Only issues over the limit are read: their recoveries are written by
                        // `recovered_message`.
                        resolved_title: String::new(),
                        resolved_text: String::new(),
                        url: Some(issue_url(&self.settings, &project.org_slug, issue_id)),
                        severity: "warning",
                        fields: vec![
                            ("Project".into(), project.slug.clone()),
                            ("Events".into(), count.to_string()),
                        ],
                    });
                }
                Ok(out)
            }
            Condition::EventRate {
                factor,
                minutes,
                baseline_hours,
                min_events,
            } => {
                let Some(project) = self.rule_project(rule, look).await? else {
                    return Ok(Vec::new());
                };
                let since = window_end - i64::from(*minutes) * MINUTE_MS;
                let scope = CountScope::Project(project.id);
                let current: u64 = self
                    .store
                    .event_counts(scope, since, window_end, MINUTE_MS)
                    .await?
                    .iter()
                    .map(|(_, n)| n)
                    .sum();
                let baseline_since = since - i64::from(*baseline_hours) * HOUR_MS;
                let baseline: u64 = self
                    .store
                    .event_counts(scope, baseline_since, since, HOUR_MS)
                    .await?
                    .iter()
                    .map(|(_, n)| n)
                    .sum();
                let windows = (f64::from(*baseline_hours) * 60.0 / f64::from(*minutes)).max(1.0);
                let usual = baseline as f64 / windows;
                let holds = current >= *min_events && current as f64 > factor * usual;
                Ok(vec![Reading {
                    subject: format!("project:{}", project.id),
                    level: Level::holds(holds),
                    value: Some(current as f64),
                    title: format!(
                        "Event rate spike in {}: {current} events in {minutes} min (usually {usual:.0})",
                        project.slug
                    ),
                    text: format!(
                        "{current} events in the last {minutes} minutes, more than {factor}× the usual \
                         {usual:.1} (the average over the {baseline_hours} hours before)."
                    ),
                    resolved_title: format!("Event rate back to normal in {}", project.slug),
                    resolved_text: format!(
                        "{current} events in the last {minutes} minutes (usually {usual:.1}): back under \
                         the rule's limit."
                    ),
                    url: Some(dashboard_url(
                        &self.settings,
                        &format!("/orgs/{}/projects/{}/issues/", project.org_slug, project.slug),
                    )),
                    severity: "warning",
                    fields: vec![
                        ("Project".into(), project.slug.clone()),
                        ("Events".into(), current.to_string()),
                        ("Usual".into(), format!("{usual:.1}")),
                    ],
                }])
            }
            Condition::InboxLag { seconds } => {
                let stats = self.store.inbox_stats().await?;
                let lag_s = stats
                    .oldest_received_ms
                    .map(|t| (now - t).max(0) / 1000)
                    .unwrap_or(0);
                Ok(vec![instance_reading(
                    &self.settings,
                    lag_s > *seconds as i64,
                    lag_s as f64,
                    (
                        format!(
                            "Sentinel's inbox is {lag_s} s behind ({} items waiting)",
                            stats.depth
                        ),
                        format!(
                            "The oldest unprocessed item arrived {lag_s} seconds ago (the limit is \
                             {seconds} s). Workers are slower than ingest, stopped, or failing: check \
                             the worker logs and /metrics."
                        ),
                    ),
                    (
                        "Sentinel's inbox has caught up".into(),
                        format!(
                            "The oldest unprocessed item is {lag_s} seconds old ({} items waiting); \
                             the limit is {seconds} s.",
                            stats.depth
                        ),
                    ),
                )])
            }
            Condition::IngestRejections {
                percent,
                minutes,
                min_items,
            } => {
                let totals = self
                    .store
                    .instance_outcome_totals(now - i64::from(*minutes) * MINUTE_MS, now)
                    .await?;
                let (rejected, accepted) = totals.iter().fold((0u64, 0u64), |(r, a), (o, n)| {
                    if o == "accepted" {
                        (r, a + n)
                    } else if NOT_REJECTED.contains(&o.as_str()) {
                        (r, a)
                    } else {
                        (r + n, a)
                    }
                });
                let total = rejected + accepted;
                let share = if total == 0 {
                    0.0
                } else {
                    100.0 * rejected as f64 / total as f64
                };
                Ok(vec![instance_reading(
                    &self.settings,
                    total >= *min_items && share > *percent,
                    share,
                    (
                        format!("Sentinel rejected {share:.1}% of ingested items in {minutes} min"),
                        format!(
                            "{rejected} of {total} items were rejected (rate-limited, invalid or too \
                             large) in the last {minutes} minutes; the limit is {percent}%."
                        ),
                    ),
                    (
                        "Sentinel's ingest rejection rate is back to normal".into(),
                        format!(
                            "{rejected} of {total} items were rejected in the last {minutes} minutes \
                             ({share:.1}%); the limit is {percent}%."
                        ),
                    ),
                )])
            }
            Condition::DiskFree { percent } => {
                let dir = self.settings.data_dir.clone();
                // Unreadable is not "free again": the rule skips this round.
                let Some(free) = tokio::task::spawn_blocking(move || disk::free_percent(&dir)).await? else {
                    anyhow::bail!(
                        "cannot read the free space of {}",
                        self.settings.data_dir.display()
                    );
                };
                let shown = display_dir(&self.settings.data_dir);
                Ok(vec![instance_reading(
                    &self.settings,
                    free < *percent,
                    free,
                    (
                        format!("Sentinel's disk is nearly full: {free:.1}% free on {shown}"),
                        format!(
                            "The file system holding {shown} has {free:.1}% free space; the limit is {percent}%."
                        ),
                    ),
                    (
                        format!("Sentinel's disk has room again: {free:.1}% free on {shown}"),
                        format!(
                            "The file system holding {shown} has {free:.1}% free space again; the limit is \
                             {percent}%."
                        ),
                    ),
                )])
            }
            Condition::TenantErrors { .. }
            | Condition::TenantShare { .. }
            | Condition::TenantLatency { .. } => {
                let Some(project) = self.rule_project(rule, look).await? else {
                    return Ok(Vec::new());
                };
                tenants::read(
                    self.store.as_ref(),
                    look,
                    &self.settings,
                    &project,
                    &rule.condition,
                    tracked,
                    now,
                )
                .await
            }
            Condition::NewIssue {}
            | Condition::Regression {}
            | Condition::MonitorDown { .. }
            | Condition::CertExpiring { .. } => Ok(Vec::new()),
        }
    }

    async fn rule_project(&self, rule: &AlertRule, look: &mut Lookups) -> anyhow::Result<Option<Project>> {
        match rule.project_id {
            Some(id) => look.project(self.store.as_ref(), id).await,
            None => Ok(None),
        }
    }

    /// The recovery message of a subject that was not measured this round (an issue that dropped
    /// below the rule's threshold).
    async fn recovered_message(
        &self,
        rule: &AlertRule,
        subject: &str,
        look: &mut Lookups,
    ) -> anyhow::Result<AlertMessage> {
        let project = self.rule_project(rule, look).await?;
        let issue = match subject
            .strip_prefix("issue:")
            .and_then(|id| id.parse::<i64>().ok())
        {
            Some(id) => self.store.get_issue(id).await?,
            None => None,
        };
        let title = match (&rule.condition, &issue) {
            (Condition::IssueFrequency { events, minutes }, Some(issue)) => {
                format!("Back under {events} events in {minutes} min: {}", issue.title)
            }
            _ => format!("Resolved: {}", rule.name),
        };
        let url = match (&project, &issue) {
            (Some(p), Some(i)) => Some(issue_url(&self.settings, &p.org_slug, i.id)),
            _ => None,
        };
        Ok(AlertMessage {
            title,
            text: format!("The condition of rule \"{}\" no longer holds.", rule.name),
            url,
            severity: "info".into(),
            fields: project
                .map(|p| vec![("Project".into(), p.slug)])
                .unwrap_or_default(),
        })
    }

    /// Creates the built-in instance rules that do not exist yet, with the configured thresholds.
    /// Run by the leader before its first evaluation.
    pub async fn ensure_instance_rules(&self) -> anyhow::Result<()> {
        let existing = self.store.list_rules(None).await?;
        let a = &self.settings.alerts;
        let builtin = [
            (
                "Inbox lag",
                Condition::InboxLag {
                    seconds: a.inbox_lag_secs,
                },
            ),
            (
                "Ingest rejections",
                Condition::IngestRejections {
                    percent: a.rejection_percent,
                    minutes: REJECTION_WINDOW_MINUTES,
                    min_items: 100,
                },
            ),
            (
                "Disk nearly full",
                Condition::DiskFree {
                    percent: a.disk_free_percent,
                },
            ),
        ];
        let now = self.clock.now_ms();
        for (name, condition) in builtin {
            if existing.iter().any(|r| r.condition.kind() == condition.kind()) {
                continue;
            }
            self.store
                .create_rule(
                    &NewAlertRule {
                        project_id: None,
                        name: name.into(),
                        condition,
                        channel_ids: Vec::new(),
                        cooldown_ms: 30 * MINUTE_MS,
                        reminder_ms: Some(6 * HOUR_MS),
                        notify_recovery: true,
                        enabled: true,
                    },
                    now,
                )
                .await
                .with_context(|| format!("creating the built-in instance rule {name:?}"))?;
        }
        Ok(())
    }
}

impl Lookups {
    /// The merged request summary of `[since_ms, until_ms)` of a project (`tenants::read::window`).
    pub(crate) async fn window(
        &mut self,
        store: &dyn Store,
        project_id: i64,
        since_ms: i64,
        until_ms: i64,
        with_latency: bool,
    ) -> anyhow::Result<Arc<Summary>> {
        let key = (project_id, since_ms, until_ms, with_latency);
        if let Some(window) = self.windows.get(&key) {
            return Ok(window.clone());
        }
        let window = Arc::new(read::window(store, project_id, since_ms, until_ms, with_latency).await?);
        self.windows.insert(key, window.clone());
        Ok(window)
    }

    async fn project(&mut self, store: &dyn Store, id: i64) -> anyhow::Result<Option<Project>> {
        if let Entry::Vacant(e) = self.projects.entry(id) {
            e.insert(store.get_project(id).await?);
        }
        Ok(self.projects.get(&id).cloned().flatten())
    }

    /// The enabled channels a rule notifies: its own, or for an instance rule without channels of
    /// its own, every instance channel.
    async fn channels_of(&mut self, store: &dyn Store, rule: &AlertRule) -> anyhow::Result<Vec<Channel>> {
        if let Entry::Vacant(e) = self.channels.entry(rule.project_id) {
            e.insert(store.list_channels(rule.project_id).await?);
        }
        let all = self
            .channels
            .get(&rule.project_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let everyone = rule.project_id.is_none() && rule.channel_ids.is_empty();
        Ok(all
            .iter()
            .filter(|c| c.enabled && (everyone || rule.channel_ids.contains(&c.id)))
            .cloned()
            .collect())
    }
}

/// One subject's measurement by a scheduled rule, and what its notifications would say.
pub(crate) struct Reading {
    pub subject: String,
    pub level: Level,
    pub value: Option<f64>,
    pub title: String,
    pub text: String,
    pub resolved_title: String,
    pub resolved_text: String,
    pub url: Option<String>,
    pub severity: &'static str,
    pub fields: Vec<(String, String)>,
}

impl Reading {
    fn message(&self, transition: Option<Transition>) -> AlertMessage {
        let resolved = transition == Some(Transition::Resolved);
        let (title, text) = if resolved {
            (&self.resolved_title, &self.resolved_text)
        } else {
            (&self.title, &self.text)
        };
        AlertMessage {
            title: title.clone(),
            text: text.clone(),
            url: self.url.clone(),
            severity: if resolved { "info" } else { self.severity }.into(),
            fields: self.fields.clone(),
        }
    }
}

/// What an instance rule measured, with its firing and its recovery message (title, text).
fn instance_reading(
    settings: &Settings,
    holds: bool,
    value: f64,
    (title, text): (String, String),
    (resolved_title, resolved_text): (String, String),
) -> Reading {
    Reading {
        subject: "instance".into(),
        level: Level::holds(holds),
        value: Some(value),
        title,
        text,
        resolved_title,
        resolved_text,
        url: Some(settings.public_base_url()),
        severity: "critical",
        fields: vec![("Instance".into(), settings.public_base_url())],
    }
}

fn display_dir(dir: &std::path::Path) -> String {
    std::fs::canonicalize(dir)
        .unwrap_or_else(|_| PathBuf::from(dir))
        .display()
        .to_string()
}

/// The message of a new-issue or regression firing.
fn issue_message(settings: &Settings, project: &Project, issue: &Issue, kind: TriggerKind) -> AlertMessage {
    use sentinel_protocol::event::Level;
    let (prefix, what) = match kind {
        TriggerKind::NewIssue => ("New issue", "first seen"),
        TriggerKind::Regression => ("Regression", "reopened by a new event; last seen"),
    };
    let severity = match issue.level {
        Level::Fatal => "critical",
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Info | Level::Debug => "info",
    };
    let mut text = String::new();
    if !issue.culprit.is_empty() {
        text.push_str(&issue.culprit);
        text.push('\n');
    }
    let when = match kind {
        TriggerKind::NewIssue => issue.first_seen_ms,
        TriggerKind::Regression => issue.last_seen_ms,
    };
    text.push_str(&format!(
        "{} in {}, {what} {}",
        issue.level.as_str(),
        project.slug,
        rfc3339(when)
    ));
    AlertMessage {
        title: format!("{prefix}: {}", issue.title),
        text,
        url: Some(issue_url(settings, &project.org_slug, issue.id)),
        severity: severity.into(),
        fields: vec![
            ("Project".into(), project.slug.clone()),
            ("Level".into(), issue.level.as_str().into()),
            ("Events".into(), issue.times_seen.to_string()),
        ],
    }
}

/// The outbox rows of a step: one per channel, none when the step notifies nothing.
pub(crate) fn notifications(
    rule: &AlertRule,
    step: &Step,
    message: &AlertMessage,
    channels: &[Channel],
    now_ms: i64,
) -> Vec<NewNotification> {
    let Some(transition) = step.notify else {
        return Vec::new();
    };
    let group = rules::group_key(rule.id, &step.state.subject, step.state.episode);
    channels
        .iter()
        .map(|c| NewNotification {
            idempotency_key: rules::idempotency_key(&group, transition, step.seq, c.id),
            group_key: group.clone(),
            rule_id: Some(rule.id),
            channel_id: c.id,
            project_id: rule.project_id,
            subject: step.state.subject.clone(),
            transition,
            message: message.clone(),
            created_ms: now_ms,
        })
        .collect()
}
