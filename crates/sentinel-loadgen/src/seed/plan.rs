//! The time plan of a seeding run: when each of N events happened over the past days, which error
//! it is, and which release and environment it carries. Pure: the seed and "now" are parameters.
//!
//! Events are drawn from an intensity over the minutes of the window, the sum of:
//!
//! * traffic: a daily rhythm (busy working hours in UTC, quiet nights, calmer weekends) that the
//!   steady and rare errors follow, each with its weight, while it is active;
//! * 2–4 deployments on weekdays in working hours, each a new release with a burst of a new error
//!   that decays over a few hours and then trickles on until the next deployment fixes it, plus a
//!   short burst of chunk-load failures from browser tabs still running the old release;
//! * one regression: an error that stops with the first deployment's release and comes back with
//!   a later one;
//! * one incident of 40–90 minutes on a weekday without a deployment (the database drops
//!   connections, the gateway times out);
//! * the nightly job, failing between 02:00 and 02:20 UTC on some nights.

use std::collections::BTreeMap;

use super::catalog::{Entry, INTRODUCED_TRICKLE, Role, catalog};
use crate::corpus::{Platform, Rng};

pub(crate) const MINUTE_MS: i64 = 60_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The oldest event is this much younger than `days` before now. The server replaces timestamps
/// older than 30 days at receipt by the receipt time (Sentry's `MAX_SECS_IN_PAST`), and the oldest
/// events are sent first: a quarter of an hour covers the time to send them and some clock skew.
pub(crate) const MARGIN_MS: i64 = 15 * MINUTE_MS;

/// The most days a plan may span: the server keeps event times at most 30 days in the past.
pub const MAX_DAYS: u32 = 30;

/// Relative traffic per UTC hour of a weekday.
const HOURLY: [f64; 24] = [
    0.20, 0.15, 0.12, 0.10, 0.10, 0.12, 0.20, 0.40, 0.70, 0.90, 1.00, 1.00, //
    0.95, 0.95, 1.00, 1.00, 0.95, 0.85, 0.70, 0.60, 0.50, 0.40, 0.30, 0.25,
];
/// Saturday and Sunday traffic relative to a weekday.
const WEEKEND: f64 = 0.45;

/// Share of steady traffic reported from staging.
const STAGING: f64 = 0.07;
/// Share of browser events in the 12 hours after a deployment still sent by the old release.
const STALE_TABS: f64 = 0.15;

/// What a plan is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlanConfig {
    pub seed: u64,
    pub events: u64,
    /// 1 to [`MAX_DAYS`].
    pub days: u32,
    /// The end of the window (the newest event is before it), epoch milliseconds.
    pub now_ms: i64,
}

/// A release of the shop and when it went out (`None`: it was running before the window).
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub name: String,
    pub deployed_ms: Option<i64>,
}

/// One deployment: the release it brought and the error it introduced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Deploy {
    pub at_ms: i64,
    /// Index into `releases`.
    pub release: usize,
    /// Index into `catalog`.
    pub introduced: usize,
    /// Size of the burst, in average days of traffic, and its decay time.
    burst_days: f64,
    burst_tau_min: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Regression {
    /// Index into `catalog`.
    pub issue: usize,
    /// The release (index) whose deployment stops it…
    pub fixed_in: usize,
    /// …and the later one whose deployment brings it back.
    pub back_in: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Incident {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// One planned event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlannedEvent {
    pub timestamp_ms: i64,
    /// Index into `catalog`.
    pub issue: u16,
    /// Index into `releases`.
    pub release: u8,
    pub staging: bool,
}

impl PlannedEvent {
    pub(crate) fn environment(&self) -> &'static str {
        if self.staging { "staging" } else { "production" }
    }
}

/// Which part of the intensity an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Traffic,
    Burst(usize),
    AfterDeploy(usize),
    Incident,
    Nightly,
}

#[derive(Clone)]
pub(crate) struct Plan {
    pub config: PlanConfig,
    pub start_ms: i64,
    pub end_ms: i64,
    pub catalog: Vec<Entry>,
    pub releases: Vec<Release>,
    pub deploys: Vec<Deploy>,
    pub regression: Regression,
    pub incident: Incident,
    /// Starts of the 20-minute windows in which the nightly job fails.
    pub nightly_failures: Vec<i64>,
    /// Sorted by time: the order they are sent in.
    pub events: Vec<PlannedEvent>,
}

/// Traffic at `t` relative to a weekday's busiest hour.
fn rhythm(t: i64) -> f64 {
    let day = t.div_euclid(DAY_MS);
    let hour = (t.rem_euclid(DAY_MS) / HOUR_MS) as usize;
    HOURLY[hour] * if is_weekend(day) { WEEKEND } else { 1.0 }
}

/// Day 0 of the epoch, 1970-01-01, was a Thursday: Monday is 0 here.
fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

fn is_weekend(day: i64) -> bool {
    weekday(day) >= 5
}

/// Traffic intensity at `t` in average days of traffic per minute: an average day sums to 1.
fn traffic(t: i64) -> f64 {
    let week: f64 = HOURLY.iter().sum::<f64>() * 60.0 * (5.0 + 2.0 * WEEKEND);
    rhythm(t) * 7.0 / week
}

/// A time in working hours (09:30–16:00 UTC) on a Monday to Thursday inside `[from, to)`, when
/// there is one (twenty tries), else any time in it.
fn working_time(rng: &mut Rng, from: i64, to: i64) -> i64 {
    let span = (to - from).max(1) as u64;
    for _ in 0..20 {
        let day = (from + rng.below(span) as i64).div_euclid(DAY_MS);
        let t = day * DAY_MS
            + 9 * HOUR_MS
            + 30 * MINUTE_MS
            + rng.below((6 * HOUR_MS + 30 * MINUTE_MS) as u64) as i64;
        if weekday(day) <= 3 && (from..to).contains(&t) {
            return t;
        }
    }
    from + rng.below(span) as i64
}

impl Plan {
    pub(crate) fn new(config: PlanConfig) -> Plan {
        let days = config.days.clamp(1, MAX_DAYS);
        let end_ms = config.now_ms;
        let start_ms = end_ms - i64::from(days) * DAY_MS + MARGIN_MS;
        let span = end_ms - start_ms;
        let catalog = catalog();
        let mut rng = Rng::new(config.seed ^ 0x7131_E9A7);

        // Deployments: one in each of k equal parts of the window, away from its very edges.
        let k = 2 + rng.below(3) as usize;
        let (lo, hi) = (start_ms + span / 12, end_ms - span / 24);
        let mut introduced: Vec<usize> = (0..catalog.len())
            .filter(|&i| catalog[i].role == Role::Introduced)
            .collect();
        for i in (1..introduced.len()).rev() {
            introduced.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let minor = 10 + rng.below(30);
        let mut releases = vec![Release {
            name: format!("shop@3.{minor}.0"),
            deployed_ms: None,
        }];
        let mut deploys = Vec::with_capacity(k);
        for i in 0..k {
            let part = (hi - lo) / k as i64;
            let at_ms = working_time(&mut rng, lo + part * i as i64, lo + part * (i as i64 + 1));
            releases.push(Release {
                name: format!("shop@3.{}.0", minor + 1 + i as u64),
                deployed_ms: Some(at_ms),
            });
            deploys.push(Deploy {
                at_ms,
                release: i + 1,
                introduced: introduced[i % introduced.len()],
                burst_days: 2.0 + 1.5 * rng.unit(),
                burst_tau_min: 90.0 + 150.0 * rng.unit(),
            });
        }

        let regression = Regression {
            issue: (0..catalog.len())
                .find(|&i| matches!(catalog[i].role, Role::Regression(_)))
                .unwrap_or(0),
            fixed_in: 1,
            back_in: 2 + rng.below(k as u64 - 1) as usize,
        };

        // The incident: a weekday in working hours, not on a deployment's day.
        let deploy_days: Vec<i64> = deploys.iter().map(|d| d.at_ms.div_euclid(DAY_MS)).collect();
        let mut incident_start = working_time(&mut rng, start_ms, end_ms - 2 * HOUR_MS);
        for _ in 0..20 {
            if !deploy_days.contains(&incident_start.div_euclid(DAY_MS)) {
                break;
            }
            incident_start = working_time(&mut rng, start_ms, end_ms - 2 * HOUR_MS);
        }
        let incident = Incident {
            from_ms: incident_start,
            to_ms: incident_start + (40 + rng.below(51) as i64) * MINUTE_MS,
        };

        let first_night = start_ms.div_euclid(DAY_MS);
        let nightly_failures = (first_night..=end_ms.div_euclid(DAY_MS))
            .map(|d| d * DAY_MS + 2 * HOUR_MS)
            .filter(|&t| rng.chance(0.4) && t >= start_ms && t + 20 * MINUTE_MS <= end_ms)
            .collect();

        let mut plan = Plan {
            config,
            start_ms,
            end_ms,
            catalog,
            releases,
            deploys,
            regression,
            incident,
            nightly_failures,
            events: Vec::new(),
        };
        plan.events = plan.draw_events(&mut rng);
        plan
    }

    /// The intensity of each source during minute `m` of the window.
    fn sources_at(&self, m: i64) -> impl Iterator<Item = (Source, f64)> + '_ {
        let t = self.start_ms + m * MINUTE_MS;
        let decay = move |at: i64, mass: f64, tau: f64| {
            let age = (t - at) as f64 / MINUTE_MS as f64;
            if (0.0..8.0 * tau).contains(&age) {
                mass / tau * (-age / tau).exp()
            } else {
                0.0
            }
        };
        let bursts = self.deploys.iter().enumerate().flat_map(move |(i, d)| {
            // The next deployment fixes the error: its burst ends there too.
            let fixed = self.deploys.get(i + 1).is_some_and(|next| t >= next.at_ms);
            let burst = if fixed {
                0.0
            } else {
                decay(d.at_ms, d.burst_days, d.burst_tau_min)
            };
            [
                (Source::Burst(i), burst),
                (Source::AfterDeploy(i), decay(d.at_ms, 0.25, 60.0)),
            ]
        });
        let incident = (self.incident.from_ms..self.incident.to_ms).contains(&t);
        let incident_minutes = ((self.incident.to_ms - self.incident.from_ms) / MINUTE_MS).max(1);
        let nightly = self
            .nightly_failures
            .iter()
            .any(|&n| (n..n + 20 * MINUTE_MS).contains(&t));
        [
            (Source::Traffic, traffic(t)),
            (
                Source::Incident,
                if incident {
                    1.2 / incident_minutes as f64
                } else {
                    0.0
                },
            ),
            (Source::Nightly, if nightly { 0.04 / 20.0 } else { 0.0 }),
        ]
        .into_iter()
        .chain(bursts)
        .filter(|(_, w)| *w > 0.0)
    }

    /// Whether catalog entry `i` is among the errors traffic can produce at `t`, and its weight.
    fn traffic_weight(&self, i: usize, t: i64) -> f64 {
        let deployed = |release: usize| self.releases[release].deployed_ms.unwrap_or(i64::MIN);
        match self.catalog[i].role {
            Role::Steady(w) | Role::Rare(w) => w,
            Role::Regression(w) => {
                let gone = deployed(self.regression.fixed_in)..deployed(self.regression.back_in);
                if gone.contains(&t) { 0.0 } else { w }
            }
            Role::Introduced => self
                .deploys
                .iter()
                .enumerate()
                .find(|(_, d)| d.introduced == i)
                .map_or(0.0, |(k, d)| {
                    let fixed = self.deploys.get(k + 1).map_or(i64::MAX, |next| next.at_ms);
                    if (d.at_ms..fixed).contains(&t) {
                        INTRODUCED_TRICKLE
                    } else {
                        0.0
                    }
                }),
            Role::Nightly | Role::Incident(_) | Role::AfterDeploy => 0.0,
        }
    }

    /// The release running at `t`.
    fn release_at(&self, t: i64) -> usize {
        self.releases
            .iter()
            .rposition(|r| r.deployed_ms.is_none_or(|d| d <= t))
            .unwrap_or(0)
    }

    fn draw_events(&self, rng: &mut Rng) -> Vec<PlannedEvent> {
        let minutes = (self.end_ms - self.start_ms).div_euclid(MINUTE_MS).max(1);
        let mut cumulative = Vec::with_capacity(minutes as usize);
        let mut total = 0.0;
        for m in 0..minutes {
            total += self.sources_at(m).map(|(_, w)| w).sum::<f64>();
            cumulative.push(total);
        }
        // Which errors traffic produces changes only with deployments: one weight table per stretch
        // between two of them, keyed by the stretch's start.
        let stretches: Vec<(i64, Vec<(usize, f64)>)> = std::iter::once(self.start_ms)
            .chain(self.deploys.iter().map(|d| d.at_ms))
            .map(|from| {
                let weights = (0..self.catalog.len())
                    .map(|i| (i, self.traffic_weight(i, from)))
                    .filter(|(_, w)| *w > 0.0)
                    .collect();
                (from, weights)
            })
            .collect();
        let role_of = |pred: fn(&Role) -> bool| self.catalog.iter().position(|e| pred(&e.role));
        let nightly = role_of(|r| matches!(r, Role::Nightly)).unwrap_or(0);
        let after_deploy = role_of(|r| matches!(r, Role::AfterDeploy)).unwrap_or(0);
        let incident: Vec<(usize, f64)> = (0..self.catalog.len())
            .filter_map(|i| match self.catalog[i].role {
                Role::Incident(w) => Some((i, w)),
                _ => None,
            })
            .collect();

        let mut events = Vec::with_capacity(self.config.events as usize);
        for _ in 0..self.config.events {
            let u = rng.unit() * total;
            let m = cumulative.partition_point(|&c| c <= u).min(cumulative.len() - 1) as i64;
            let t = (self.start_ms + m * MINUTE_MS + rng.below(MINUTE_MS as u64) as i64).min(self.end_ms - 1);
            let sources: Vec<(Source, f64)> = self.sources_at(m).collect();
            let source = pick_weighted(rng, &sources).unwrap_or(Source::Traffic);
            let mut release = self.release_at(t);
            let mut staging = false;
            let issue = match source {
                Source::Traffic => {
                    let stretch = stretches
                        .partition_point(|(from, _)| *from <= t)
                        .saturating_sub(1);
                    let issue = pick_weighted(rng, &stretches[stretch].1).unwrap_or(0);
                    staging = rng.chance(STAGING);
                    let role = self.catalog[issue].role;
                    let stale = self.catalog[issue].issue.platform() == Platform::Browser
                        && matches!(role, Role::Steady(_) | Role::Rare(_))
                        && release > 0
                        && self.releases[release]
                            .deployed_ms
                            .is_some_and(|d| t - d < 12 * HOUR_MS);
                    if stale && rng.chance(STALE_TABS) {
                        release -= 1;
                    }
                    issue
                }
                Source::Burst(i) => self.deploys[i].introduced,
                Source::AfterDeploy(i) => {
                    release = self.deploys[i].release - 1;
                    after_deploy
                }
                Source::Incident => pick_weighted(rng, &incident).unwrap_or(0),
                Source::Nightly => nightly,
            };
            events.push(PlannedEvent {
                timestamp_ms: t,
                issue: issue as u16,
                release: release as u8,
                staging,
            });
        }
        events.sort_by_key(|e| e.timestamp_ms);
        events
    }

    /// Planned events per platform.
    pub(crate) fn per_platform(&self) -> BTreeMap<Platform, u64> {
        let mut out = BTreeMap::new();
        for e in &self.events {
            *out.entry(self.catalog[e.issue as usize].issue.platform())
                .or_default() += 1;
        }
        out
    }

    /// Planned events per UTC day (start of the day, epoch ms), every day of the window listed.
    pub(crate) fn per_day(&self) -> BTreeMap<i64, u64> {
        let mut out: BTreeMap<i64, u64> = (self.start_ms.div_euclid(DAY_MS)
            ..=(self.end_ms - 1).div_euclid(DAY_MS))
            .map(|d| (d * DAY_MS, 0))
            .collect();
        for e in &self.events {
            *out.entry(e.timestamp_ms.div_euclid(DAY_MS) * DAY_MS).or_default() += 1;
        }
        out
    }

    /// Planned events per UTC hour of the day, over the whole window.
    pub(crate) fn per_hour_of_day(&self) -> [u64; 24] {
        let mut out = [0; 24];
        for e in &self.events {
            out[(e.timestamp_ms.rem_euclid(DAY_MS) / HOUR_MS) as usize] += 1;
        }
        out
    }

    /// The median of the whole days' counts (the first and last day are partial).
    pub(crate) fn typical_day(&self) -> u64 {
        let days = self.per_day();
        let mut counts: Vec<u64> = days.values().copied().collect();
        if counts.len() > 2 {
            counts = counts[1..counts.len() - 1].to_vec();
        }
        counts.sort_unstable();
        counts.get(counts.len() / 2).copied().unwrap_or(0)
    }

    /// Days with at least twice the typical day's events, with their counts.
    pub(crate) fn spike_days(&self) -> Vec<(i64, u64)> {
        let typical = self.typical_day().max(1);
        self.per_day()
            .into_iter()
            .filter(|(_, n)| *n >= 2 * typical)
            .collect()
    }

    /// Planned events of `platform` in `[from, to)`.
    #[cfg(test)]
    fn events_of_platform(
        &self,
        platform: Platform,
        from: i64,
        to: i64,
    ) -> impl Iterator<Item = &PlannedEvent> {
        self.events.iter().filter(move |e| {
            self.catalog[usize::from(e.issue)].issue.platform() == platform
                && (from..to).contains(&e.timestamp_ms)
        })
    }

    /// Planned events of catalog entry `issue` in `[from, to)`.
    pub(crate) fn events_of(&self, issue: usize, from: i64, to: i64) -> impl Iterator<Item = &PlannedEvent> {
        self.events
            .iter()
            .filter(move |e| e.issue as usize == issue && (from..to).contains(&e.timestamp_ms))
    }
}

/// A choice in proportion to the weights; `None` when they are all zero.
fn pick_weighted<T: Copy>(rng: &mut Rng, items: &[(T, f64)]) -> Option<T> {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    if total <= 0.0 {
        return None;
    }
    let mut u = rng.unit() * total;
    for (item, w) in items {
        if u < *w {
            return Some(*item);
        }
        u -= w;
    }
    items.last().map(|(item, _)| *item)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// 2026-01-15T16:47:00Z, a Thursday afternoon.
    const NOW: i64 = 1_768_495_620_000;

    fn plan(seed: u64, events: u64) -> Plan {
        Plan::new(PlanConfig {
            seed,
            events,
            days: 30,
            now_ms: NOW,
        })
    }

    #[test]
    fn the_plan_spans_thirty_days_up_to_now_and_stays_inside_the_servers_limit() {
        let p = plan(1, 5_000);
        assert_eq!(p.events.len(), 5_000);
        let first = p.events.first().unwrap().timestamp_ms;
        let last = p.events.last().unwrap().timestamp_ms;
        assert!(
            first >= NOW - 30 * DAY_MS + MARGIN_MS,
            "oldest event {first} is too old"
        );
        assert!(first < NOW - 29 * DAY_MS, "the window's first day has events");
        assert!(last < NOW && last > NOW - DAY_MS, "the last day has events");
        assert!(
            p.events
                .windows(2)
                .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms)
        );
    }

    #[test]
    fn more_errors_happen_at_two_in_the_afternoon_than_at_three_at_night() {
        for seed in 0..3 {
            let hours = plan(seed, 10_000).per_hour_of_day();
            assert!(hours[14] > 3 * hours[3], "seed {seed}: {hours:?}");
            assert!(hours[11] > hours[22], "seed {seed}: {hours:?}");
        }
    }

    #[test]
    fn weekends_are_quieter_than_weekdays() {
        let p = plan(3, 20_000);
        let (mut weekday_events, mut weekday_n, mut weekend_events, mut weekend_n) = (0, 0, 0, 0);
        let deploy_or_incident_days: HashSet<i64> = p
            .deploys
            .iter()
            .map(|d| d.at_ms.div_euclid(DAY_MS))
            .chain([p.incident.from_ms.div_euclid(DAY_MS)])
            .collect();
        let days = p.per_day();
        // Whole days only, without the spikes.
        for (&start, &n) in days.iter().skip(1).take(days.len() - 2) {
            let day = start / DAY_MS;
            if deploy_or_incident_days.contains(&day) {
                continue;
            }
            if is_weekend(day) {
                weekend_events += n;
                weekend_n += 1;
            } else {
                weekday_events += n;
                weekday_n += 1;
            }
        }
        let (weekday, weekend) = (weekday_events / weekday_n, weekend_events / weekend_n);
        assert!(weekend * 3 < weekday * 2, "weekday {weekday}, weekend {weekend}");
    }

    #[test]
    fn two_to_four_deployments_each_bring_a_release_and_a_burst_of_a_new_error() {
        let mut counts = HashSet::new();
        for seed in 0..12 {
            let p = plan(seed, 6_000);
            counts.insert(p.deploys.len());
            assert_eq!(p.releases.len(), p.deploys.len() + 1);
            let spike_days: Vec<i64> = p.spike_days().iter().map(|(d, _)| d / DAY_MS).collect();
            for d in &p.deploys {
                let day = d.at_ms.div_euclid(DAY_MS);
                assert!(weekday(day) <= 3, "seed {seed}: deployed on a {}", weekday(day));
                let hour = d.at_ms.rem_euclid(DAY_MS) / HOUR_MS;
                assert!((9..16).contains(&hour), "seed {seed}: deployed at {hour}:00");
                assert_eq!(
                    p.events_of(d.introduced, p.start_ms, d.at_ms).count(),
                    0,
                    "seed {seed}"
                );
                let burst = p.events_of(d.introduced, d.at_ms, d.at_ms + 6 * HOUR_MS).count();
                assert!(burst >= 100, "seed {seed}: only {burst} events in the burst");
                assert!(
                    p.events_of(d.introduced, d.at_ms, d.at_ms + DAY_MS)
                        .all(|e| usize::from(e.release) == d.release),
                    "seed {seed}: the new error comes with the new release"
                );
                assert!(
                    spike_days.contains(&day),
                    "seed {seed}: the deployment's day is no spike"
                );
            }
            let introduced: HashSet<usize> = p.deploys.iter().map(|d| d.introduced).collect();
            assert_eq!(
                introduced.len(),
                p.deploys.len(),
                "seed {seed}: each deployment brings a new error"
            );
        }
        assert_eq!(counts, HashSet::from([2, 3, 4]));
    }

    #[test]
    fn an_error_fixed_by_the_next_deployment_stops_then() {
        let p = plan(7, 10_000);
        let first = p.deploys[0];
        let fixed_at = p.deploys[1].at_ms;
        assert!(p.events_of(first.introduced, first.at_ms, fixed_at).count() > 0);
        assert_eq!(p.events_of(first.introduced, fixed_at, p.end_ms).count(), 0);
    }

    #[test]
    fn the_regression_stops_with_its_fix_and_returns_in_a_later_release() {
        for seed in 0..10 {
            let p = plan(seed, 10_000);
            let r = p.regression;
            assert!(r.back_in > r.fixed_in);
            let fixed = p.releases[r.fixed_in].deployed_ms.unwrap();
            let back = p.releases[r.back_in].deployed_ms.unwrap();
            assert!(
                p.events_of(r.issue, p.start_ms, fixed).count() > 10,
                "seed {seed}"
            );
            assert_eq!(p.events_of(r.issue, fixed, back).count(), 0, "seed {seed}");
            let after: Vec<_> = p.events_of(r.issue, back, p.end_ms).collect();
            assert!(after.len() > 10, "seed {seed}");
            assert!(
                after.iter().all(|e| usize::from(e.release) >= r.back_in),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn the_incident_is_a_short_spike_on_a_day_without_a_deployment() {
        let p = plan(11, 10_000);
        let minutes = (p.incident.to_ms - p.incident.from_ms) / MINUTE_MS;
        assert!((40..=90).contains(&minutes));
        let during = p
            .events
            .iter()
            .filter(|e| (p.incident.from_ms..p.incident.to_ms).contains(&e.timestamp_ms))
            .count();
        // An average day is about a fortieth of the events; the incident adds more than that.
        assert!(during > 10_000 / 40, "{during} events during the incident");
        let day = p.incident.from_ms.div_euclid(DAY_MS);
        assert!(p.deploys.iter().all(|d| d.at_ms.div_euclid(DAY_MS) != day));
    }

    #[test]
    fn rare_errors_form_a_long_tail() {
        let p = plan(5, 10_000);
        let mut per_issue = vec![0u64; p.catalog.len()];
        for e in &p.events {
            per_issue[usize::from(e.issue)] += 1;
        }
        let rare: Vec<u64> = (0..p.catalog.len())
            .filter(|&i| matches!(p.catalog[i].role, Role::Rare(_)))
            .map(|i| per_issue[i])
            .collect();
        assert!(rare.iter().filter(|&&n| n > 0).count() >= 25, "{rare:?}");
        assert!(rare.iter().all(|&n| n < 60), "{rare:?}");
        let loudest = per_issue.iter().max().copied().unwrap_or(0);
        assert!(loudest > 500, "a few errors are loud: {loudest}");
    }

    #[test]
    fn every_platform_and_both_environments_are_present() {
        let p = plan(2, 5_000);
        let platforms = p.per_platform();
        assert_eq!(platforms.len(), 4, "{platforms:?}");
        assert!(platforms.values().all(|&n| n > 400), "{platforms:?}");
        let staging = p.events.iter().filter(|e| e.staging).count();
        assert!((100..1_000).contains(&staging), "{staging} staging events");
    }

    #[test]
    fn browser_tabs_opened_before_a_deployment_report_the_old_release_for_a_while() {
        let p = plan(9, 20_000);
        let d = p.deploys[0];
        let old = p
            .events_of_platform(Platform::Browser, d.at_ms, d.at_ms + 12 * HOUR_MS)
            .filter(|e| usize::from(e.release) == d.release - 1)
            .count();
        assert!(old > 0);
        let later = p
            .events_of_platform(Platform::Browser, d.at_ms + 12 * HOUR_MS, d.at_ms + 48 * HOUR_MS)
            .filter(|e| usize::from(e.release) < d.release)
            .count();
        assert_eq!(later, 0);
    }

    #[test]
    fn the_nightly_job_fails_only_between_two_and_twenty_past_two() {
        let p = plan(4, 10_000);
        let nightly = (0..p.catalog.len())
            .find(|&i| p.catalog[i].role == Role::Nightly)
            .unwrap();
        let events: Vec<_> = p.events_of(nightly, p.start_ms, p.end_ms).collect();
        assert!(!events.is_empty());
        assert!(events.iter().all(|e| {
            let m = e.timestamp_ms.rem_euclid(DAY_MS) / MINUTE_MS;
            (120..140).contains(&m)
        }));
    }

    #[test]
    fn the_same_seed_gives_the_same_plan_and_another_seed_another() {
        let a = plan(42, 3_000);
        let b = plan(42, 3_000);
        assert_eq!(a.events, b.events);
        assert_eq!(a.releases, b.releases);
        assert_eq!(a.deploys, b.deploys);
        let c = plan(43, 3_000);
        assert_ne!(a.events, c.events);
    }

    #[test]
    fn short_windows_still_have_two_deployments_and_a_regression() {
        let p = Plan::new(PlanConfig {
            seed: 1,
            events: 500,
            days: 1,
            now_ms: NOW,
        });
        assert!(p.deploys.len() >= 2);
        assert!(
            p.events
                .iter()
                .all(|e| e.timestamp_ms >= NOW - DAY_MS && e.timestamp_ms < NOW)
        );
        assert!(p.regression.back_in > p.regression.fixed_in);
    }
}
