//! Tenant rules (issue 7): "tell me when one tenant is the incident". Per tenant of a project
//! (subject `tenant:{name}`), over the request rollups read through `tenants::read` and the lines
//! of `tenants::ranking`:
//!
//! - `tenant_errors`: the tenant had at least `errors` 5xx in the window;
//! - `tenant_share`: it caused more than `percent` % of all 5xx, in windows with at least
//!   `min_errors` 5xx;
//! - `tenant_latency`: its p95 is more than `factor` × its own p95 over the hour before the
//!   window (the ranking's deviation), with at least `min_requests` requests.
//!
//! Each measure is a [`Level`] for `rules::advance`: over the threshold, under the rule's
//! `resolve_below`, or between. A tenant with an open episode (or a streak towards one) that is
//! gone from the window measures 0, so it resolves. 5xx and request counts are those a tenant
//! surely had (its Space-Saving count minus the error bound), as the ranking's are.
//!
//! `measure` is pure (summaries in, levels out); `read` fetches the summaries and writes the
//! messages.

use std::fmt::Write as _;

use anyhow::Context as _;
use sentinel_store::{AlertRule, AlertState, Condition, Project, Store, StoreError};

use super::dashboard_url;
use super::engine::{Lookups, Reading};
use super::rules::Level;
use crate::config::Settings;
use crate::tenants::ranking::{By, TenantRank, line, rank, sure_requests};
use crate::tenants::read::{self, BASELINE_MS, MINUTE_MS};
use crate::tenants::report::describe_window;
use crate::tenants::summary::Summary;
use crate::tenants::tenant_path;

/// Tenants looked at per evaluation besides the tracked ones: those with most 5xx (or, for
/// latency, the largest deviations). More tenants over a threshold at once is one incident of
/// the whole project, not of a tenant.
const CANDIDATES: usize = 100;
/// Where an episode resolves when the rule names no `resolve_below`: this fraction of the
/// threshold (of the 5xx count or the share; for latency, of the deviation beyond 1×, so 3×
/// resolves under 2.6×).
const RESOLVE_FRACTION: f64 = 0.8;
/// Evaluations in a row that open a share episode when the rule names none: a share of a small
/// number of 5xx jumps around from one evaluation to the next.
pub const SHARE_EVALUATIONS: u32 = 2;

/// The prefix of tenant subjects.
const SUBJECT: &str = "tenant:";

/// An incident open for one tenant: its rule and the rule's state for the tenant.
pub struct OpenIncident {
    pub rule: AlertRule,
    pub state: AlertState,
    kind: Kind,
}

impl OpenIncident {
    /// The last measured value as the rule's notifications word it.
    pub fn value_text(&self) -> String {
        let Some(v) = self.state.value else {
            return "—".into();
        };
        match self.kind {
            Kind::Errors => format!("{v:.0} 5xx"),
            Kind::Share { .. } => format!("{v:.0}% of all 5xx"),
            Kind::Latency { .. } => format!("p95 {v:.1}× its usual"),
        }
    }
}

/// The enabled tenant rules of a project with an incident open for `tenant`, in rule order. A
/// disabled rule is not evaluated, so its last state says nothing about now.
pub async fn open_incidents(
    store: &dyn Store,
    project_id: i64,
    tenant: &str,
) -> Result<Vec<OpenIncident>, StoreError> {
    let subject = format!("{SUBJECT}{tenant}");
    let mut open = Vec::new();
    for rule in store.list_rules(Some(project_id)).await? {
        let Some(TenantRule { kind, .. }) = TenantRule::of(&rule.condition).filter(|_| rule.enabled) else {
            continue;
        };
        if let Some(state) = store.get_alert_state(rule.id, &subject).await?
            && state.firing
        {
            open.push(OpenIncident { rule, state, kind });
        }
    }
    Ok(open)
}

/// The default `resolve_below` of a tenant condition kind with this threshold, rounded to four
/// decimals so it reads as entered (80 % of 7 is 5.6, not 5.6000000000000005).
pub fn default_resolve_below(kind: &str, threshold: f64) -> f64 {
    let bound = if kind == "tenant_latency" {
        1.0 + (threshold - 1.0) * RESOLVE_FRACTION
    } else {
        threshold * RESOLVE_FRACTION
    };
    (bound * 10_000.0).round() / 10_000.0
}

/// What a tenant rule measures, with the minimum that makes the measure meaningful.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Errors,
    Share { min_errors: u64 },
    Latency { min_requests: u64 },
}

/// A tenant condition, taken apart once.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TenantRule {
    kind: Kind,
    /// `errors`, `percent` or `factor`.
    threshold: f64,
    minutes: u32,
    evaluations: u32,
    resolve_below: f64,
}

impl TenantRule {
    /// The tenant rule `condition` is; `None` for the other kinds.
    fn of(condition: &Condition) -> Option<TenantRule> {
        let (kind, threshold, minutes, evaluations, resolve_below) = match *condition {
            Condition::TenantErrors {
                errors,
                minutes,
                evaluations,
                resolve_below,
            } => (Kind::Errors, errors as f64, minutes, evaluations, resolve_below),
            Condition::TenantShare {
                percent,
                minutes,
                min_errors,
                evaluations,
                resolve_below,
            } => (
                Kind::Share { min_errors },
                percent,
                minutes,
                evaluations,
                resolve_below,
            ),
            Condition::TenantLatency {
                factor,
                minutes,
                min_requests,
                evaluations,
                resolve_below,
            } => (
                Kind::Latency { min_requests },
                factor,
                minutes,
                evaluations,
                resolve_below,
            ),
            _ => return None,
        };
        Some(TenantRule {
            kind,
            threshold,
            minutes,
            evaluations,
            resolve_below,
        })
    }
}

/// One tenant's measure by a tenant rule.
#[derive(Debug, Clone, PartialEq)]
struct Measure {
    level: Level,
    /// Its 5xx, its share of all 5xx (percent) or its p95 against its usual (×); 0 when it is
    /// not in the window.
    value: f64,
    /// Its 5xx that are sure (what `value` counts for `tenant_errors`).
    errors: u64,
    /// Its requests that are sure (what `tenant_latency`'s `min_requests` counts).
    requests: u64,
    /// Its line in the window's ranking.
    line: TenantRank,
}

/// What `rule` measures in `window` (and, for latency, `baseline`, the hour before): the tenants
/// over the threshold, and every `tracked` tenant (with an episode or a streak) wherever it
/// stands.
fn measure(
    rule: &TenantRule,
    window: &Summary,
    baseline: Option<&Summary>,
    tracked: &[&str],
) -> Vec<Measure> {
    let (by, min_requests) = match rule.kind {
        Kind::Latency { min_requests } => (By::Latency, min_requests),
        Kind::Errors | Kind::Share { .. } => (By::Errors, 0),
    };
    let ranking = rank(window, baseline, by, CANDIDATES, min_requests);
    let mut lines = ranking.tenants;
    for tenant in tracked {
        if !lines.iter().any(|l| l.tenant == *tenant) {
            lines.push(line(window, baseline, tenant, ranking.p95_ms));
        }
    }
    lines
        .into_iter()
        .filter_map(|line| {
            let c = &window.counts;
            let errors = c.tenant_errors.get(&line.tenant).map_or(0, |e| e.guaranteed());
            let requests = sure_requests(c, &line.tenant);
            let (value, level) = level_of(rule, c.errors, errors, requests, &line);
            let keep = level == Level::Over || tracked.contains(&line.tenant.as_str());
            keep.then_some(Measure {
                level,
                value,
                errors,
                requests,
                line,
            })
        })
        .collect()
}

/// A tenant's value and level: `total` is the window's 5xx, `errors` and `requests` the
/// tenant's sure counts.
fn level_of(rule: &TenantRule, total: u64, errors: u64, requests: u64, line: &TenantRank) -> (f64, Level) {
    let value = match rule.kind {
        Kind::Errors => errors as f64,
        // Too few 5xx to speak of shares: no streak, and an open episode is over.
        Kind::Share { min_errors } if total < min_errors => return (line.share * 100.0, Level::Under),
        Kind::Share { .. } => line.share * 100.0,
        Kind::Latency { min_requests } => {
            let enough = requests >= min_requests.max(1);
            line.vs_baseline.filter(|_| enough).unwrap_or(0.0)
        }
    };
    // "At least" so many 5xx; "more than" a share or a factor.
    let inclusive = rule.kind == Kind::Errors;
    (
        value,
        Level::of(value, rule.threshold, inclusive, rule.resolve_below),
    )
}

/// Reads what the tenant rule `condition` of `project` measures at `now_ms`; `tracked` are the
/// rule's subjects with an episode or a streak. Windows come through `look`, so the rules of one
/// project over one window read it once per round.
pub(crate) async fn read(
    store: &dyn Store,
    look: &mut Lookups,
    settings: &Settings,
    project: &Project,
    condition: &Condition,
    tracked: &[&str],
    now_ms: i64,
) -> anyhow::Result<Vec<Reading>> {
    let rule =
        TenantRule::of(condition).with_context(|| format!("{} is not a tenant rule", condition.kind()))?;
    let latency = matches!(rule.kind, Kind::Latency { .. });
    let (since, until) = read::window_bounds(now_ms, i64::from(rule.minutes) * MINUTE_MS);
    let window = look.window(store, project.id, since, until, latency).await?;
    let baseline = if latency {
        Some(
            look.window(store, project.id, since - BASELINE_MS, since, true)
                .await?,
        )
    } else {
        None
    };
    let tenants: Vec<&str> = tracked.iter().filter_map(|s| s.strip_prefix(SUBJECT)).collect();
    Ok(measure(&rule, &window, baseline.as_deref(), &tenants)
        .iter()
        .map(|m| reading(settings, project, &rule, m, window.counts.errors))
        .collect())
}

/// The notification texts of one tenant's measure: what triggers, what resolves.
struct Texts {
    title: String,
    text: String,
    resolved_title: String,
    resolved_text: String,
    /// The figure, labelled, for the fields.
    figure: (&'static str, String),
    endpoint: Option<String>,
    severity: &'static str,
}

fn texts(rule: &TenantRule, m: &Measure, total: u64) -> Texts {
    let last = format!("the {}", describe_window(&format!("{}m", rule.minutes)));
    let TenantRule {
        threshold,
        resolve_below,
        ..
    } = *rule;
    let evaluations = evaluations_word(rule.evaluations);
    let t = &m.line.tenant;
    let share = m.line.share * 100.0;
    let n = m.errors;
    let endpoint = m.line.dominating_endpoint();
    let with_endpoint = endpoint.map(|e| format!(" (endpoint {e})")).unwrap_or_default();
    let endpoint_line = endpoint
        .map(|e| {
            let of = m.line.endpoint_share.unwrap_or_default() * 100.0;
            format!(" {of:.0}% of its 5xx were on {e}.")
        })
        .unwrap_or_default();
    let endpoint = endpoint.map(str::to_owned);
    match rule.kind {
        Kind::Share { min_errors } => Texts {
            title: format!("Tenant {t} responsible for {share:.0}% of 5xx in {last}{with_endpoint}"),
            text: format!(
                "{t} had {n} of the project's {total} 5xx in {last} ({share:.0}%); the rule fires \
                 above {threshold}% in {evaluations} in a row.{endpoint_line}"
            ),
            resolved_title: format!(
                "Tenant {t} no longer responsible for more than {threshold}% of 5xx (now {share:.0}% in \
                 {last})"
            ),
            resolved_text: format!(
                "{t} had {n} of the project's {total} 5xx in {last} ({share:.0}%): under \
                 {resolve_below}% (or fewer than {min_errors} 5xx in all), so the incident is over."
            ),
            figure: ("Share of 5xx", format!("{share:.0}% ({n} of {total})")),
            endpoint,
            severity: "error",
        },
        Kind::Errors => Texts {
            title: format!("Tenant {t} had {n} 5xx in {last}{with_endpoint}"),
            text: format!(
                "{t} had {n} 5xx in {last} ({share:.0}% of the project's {total}); the rule fires at \
                 {threshold} in {evaluations} in a row.{endpoint_line}"
            ),
            resolved_title: format!("Tenant {t} no longer has {threshold} 5xx or more in {last} (now {n})"),
            resolved_text: format!(
                "{t} had {n} 5xx in {last} ({share:.0}% of the project's {total}): under \
                 {resolve_below}, so the incident is over."
            ),
            figure: ("5xx", n.to_string()),
            endpoint,
            severity: "error",
        },
        Kind::Latency { min_requests } => latency_texts(m, &last, rule, min_requests),
    }
}

fn latency_texts(m: &Measure, last: &str, rule: &TenantRule, min_requests: u64) -> Texts {
    let TenantRule {
        threshold: factor,
        resolve_below,
        ..
    } = *rule;
    let l = &m.line;
    let t = &l.tenant;
    let f = m.value;
    let figures = match (l.p95_ms, l.baseline_p95_ms) {
        (Some(now), Some(usual)) => format!("{now:.0} ms vs {usual:.0} ms"),
        _ => "no p95 figures".into(),
    };
    let on = l
        .latency_endpoint
        .as_ref()
        .map(|e| format!(" on {e}"))
        .unwrap_or_default();
    let mut text = format!(
        "{t}'s p95 latency in {last} is {figures} in the hour before ({f:.1}×, over {} requests); the \
         rule fires above {factor}× in {} in a row.",
        m.requests,
        evaluations_word(rule.evaluations)
    );
    if let (Some(e), Some(p), Some(ef)) = (
        &l.latency_endpoint,
        l.latency_endpoint_p95_ms,
        l.latency_endpoint_factor,
    ) {
        let _ = write!(text, " Slowest against its usual: {e}, p95 {p:.0} ms ({ef:.1}×).");
    }
    Texts {
        title: format!("Tenant {t}'s p95 is {f:.1}× its usual ({figures}){on}"),
        text,
        resolved_title: if f > 0.0 {
            format!("Tenant {t} no longer slower than {factor}× its usual p95 (now {f:.1}×)")
        } else {
            // Gone from the window, or too few requests in it to judge.
            format!("Tenant {t} no longer slower than {factor}× its usual p95 (too few requests now)")
        },
        resolved_text: format!(
            "{t}'s p95 in {last}: {figures} ({f:.1}×): under {resolve_below}× (or fewer than \
             {min_requests} requests), so the incident is over."
        ),
        figure: ("p95", format!("{figures} ({f:.1}×)")),
        endpoint: l.latency_endpoint.clone(),
        severity: "warning",
    }
}

fn evaluations_word(k: u32) -> String {
    if k <= 1 {
        "1 evaluation".into()
    } else {
        format!("{k} evaluations")
    }
}

/// The engine's reading of one measure: subject, level and messages, linked to the tenant's
/// dashboard page.
fn reading(settings: &Settings, project: &Project, rule: &TenantRule, m: &Measure, total: u64) -> Reading {
    let t = texts(rule, m, total);
    let tenant = &m.line.tenant;
    let mut fields = vec![
        ("Project".to_owned(), project.slug.clone()),
        ("Tenant".to_owned(), tenant.clone()),
    ];
    if let Some(e) = t.endpoint {
        fields.push(("Endpoint".to_owned(), e));
    }
    fields.push((t.figure.0.to_owned(), t.figure.1));
    Reading {
        subject: format!("{SUBJECT}{tenant}"),
        level: m.level,
        value: Some(m.value),
        title: t.title,
        text: t.text,
        resolved_title: t.resolved_title,
        resolved_text: t.resolved_text,
        url: Some(dashboard_url(
            settings,
            &tenant_path(&project.org_slug, &project.slug, tenant),
        )),
        severity: t.severity,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use sentinel_protocol::requests::RequestEvent;

    use super::*;

    const T0: i64 = 1_800_000_000_000;

    /// `n` requests of `tenant` on `endpoint` with `status`, each taking `latency_ms`.
    fn reqs(tenant: &str, endpoint: &str, status: u16, latency_ms: f64, n: usize) -> Vec<RequestEvent> {
        (0..n)
            .map(|i| RequestEvent {
                tenant: tenant.into(),
                endpoint: endpoint.into(),
                method: "GET".into(),
                status,
                latency_ms,
                timestamp_ms: T0 + i as i64,
                event_id: None,
                trace_id: None,
            })
            .collect()
    }

    fn summary(parts: &[Vec<RequestEvent>]) -> Summary {
        let all: Vec<RequestEvent> = parts.concat();
        Summary::of(all.iter(), 300.0)
    }

    fn by_tenant(m: &[Measure]) -> Vec<(&str, Level, f64)> {
        m.iter()
            .map(|m| (m.line.tenant.as_str(), m.level, m.value))
            .collect()
    }

    fn errors_rule(errors: u64, resolve_below: f64) -> TenantRule {
        TenantRule::of(&Condition::TenantErrors {
            errors,
            minutes: 10,
            evaluations: 1,
            resolve_below,
        })
        .unwrap()
    }

    fn share_rule(min_errors: u64) -> TenantRule {
        TenantRule::of(&Condition::TenantShare {
            percent: 50.0,
            minutes: 10,
            min_errors,
            evaluations: 2,
            resolve_below: 40.0,
        })
        .unwrap()
    }

    /// Over `factor` × the usual p95 in 10 minutes, resolving at the default bound.
    fn latency_rule(factor: f64, min_requests: u64) -> TenantRule {
        TenantRule::of(&Condition::TenantLatency {
            factor,
            minutes: 10,
            min_requests,
            evaluations: 1,
            resolve_below: default_resolve_below("tenant_latency", factor),
        })
        .unwrap()
    }

    #[test]
    fn the_count_kind_measures_each_tenants_5xx_and_the_tracked_ones_wherever_they_stand() {
        let w = summary(&[
            reqs("acme", "/v1/process", 500, 10.0, 12),
            reqs("beta", "/v1/users", 503, 10.0, 9),
            reqs("gamma", "/v1/users", 502, 10.0, 3),
            reqs("gamma", "/v1/users", 200, 10.0, 50),
        ]);
        let rule = errors_rule(10, 8.0);
        // Untracked tenants count only when over the threshold ("at least": 10 would do).
        assert_eq!(
            by_tenant(&measure(&rule, &w, None, &[])),
            [("acme", Level::Over, 12.0)]
        );
        // Tracked ones are measured wherever they stand; one gone from the window counts 0.
        let m = measure(&rule, &w, None, &["beta", "gamma", "gone"]);
        assert_eq!(
            by_tenant(&m),
            [
                ("acme", Level::Over, 12.0),
                ("beta", Level::Band, 9.0),
                ("gamma", Level::Under, 3.0),
                ("gone", Level::Under, 0.0),
            ]
        );
        assert_eq!(m[0].errors, 12);
        assert_eq!(m[0].line.endpoint.as_deref(), Some("/v1/process"));
    }

    #[test]
    fn the_share_kind_counts_only_windows_with_enough_5xx() {
        // acme 6 of 10 5xx, beta 4.
        let w = summary(&[
            reqs("acme", "/v1/process", 500, 10.0, 6),
            reqs("beta", "/v1/users", 500, 10.0, 4),
            reqs("beta", "/v1/users", 200, 10.0, 100),
        ]);
        let m = measure(&share_rule(10), &w, None, &["beta"]);
        assert_eq!(
            by_tenant(&m),
            [("acme", Level::Over, 60.0), ("beta", Level::Band, 40.0)]
        );
        // With fewer 5xx than the rule's minimum nobody is over, and an open episode ends.
        let m = measure(&share_rule(11), &w, None, &["acme"]);
        assert_eq!(by_tenant(&m), [("acme", Level::Under, 60.0)]);
        assert!(measure(&share_rule(11), &w, None, &[]).is_empty());
    }

    #[test]
    fn the_latency_kind_compares_a_tenants_p95_with_its_own_hour_before() {
        let baseline = summary(&[
            reqs("acme", "/v1/reports", 200, 100.0, 100),
            reqs("beta", "/v1/users", 200, 50.0, 100),
        ]);
        let w = summary(&[
            reqs("acme", "/v1/reports", 200, 300.0, 100),
            reqs("beta", "/v1/users", 200, 55.0, 100),
            reqs("new", "/v1/users", 200, 900.0, 100),
        ]);
        let m = measure(&latency_rule(2.0, 20), &w, Some(&baseline), &["beta"]);
        let got = by_tenant(&m);
        // A tenant without a baseline ("new") is not judged against one.
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].0, got[0].1), ("acme", Level::Over));
        assert!((got[0].2 - 3.0).abs() < 0.1, "{got:?}");
        assert_eq!((got[1].0, got[1].1), ("beta", Level::Under));
        assert_eq!(m[0].line.latency_endpoint.as_deref(), Some("/v1/reports"));
        // Too few requests to judge: counted as 0.
        let m = measure(&latency_rule(2.0, 101), &w, Some(&baseline), &["acme"]);
        assert_eq!(by_tenant(&m), [("acme", Level::Under, 0.0)]);
    }

    /// Merging summaries may add to a tenant's requests what it never had: the latency kind's
    /// `min_requests` counts the requests it surely had, as the ranking's guard does.
    #[test]
    fn the_latency_kind_counts_only_the_requests_a_tenant_surely_had() {
        let baseline = summary(&[reqs("slow", "/v1/reports", 200, 100.0, 100)]);
        // A part full of other tenants (20 requests each) and one where `slow` had 40: merged,
        // `slow` has 60 requests at most and 40 surely.
        let fillers: Vec<_> = (0..crate::tenants::summary::TENANTS_TRACKED)
            .map(|i| reqs(&format!("f{i:04}"), "/v1/users", 200, 10.0, 20))
            .collect();
        let mut w = summary(&fillers);
        w.merge(&summary(&[reqs("slow", "/v1/reports", 200, 300.0, 40)]));
        let counted = w.counts.tenants.get("slow").unwrap();
        assert_eq!((counted.count, counted.guaranteed()), (60, 40));
        let m = measure(&latency_rule(2.0, 50), &w, Some(&baseline), &["slow"]);
        assert_eq!(by_tenant(&m), [("slow", Level::Under, 0.0)]);
        let m = measure(&latency_rule(2.0, 40), &w, Some(&baseline), &[]);
        assert_eq!(
            (m[0].line.tenant.as_str(), m[0].level, m[0].requests),
            ("slow", Level::Over, 40)
        );
    }

    #[test]
    fn messages_name_the_tenant_its_figures_and_a_dominating_endpoint() {
        let w = summary(&[
            reqs("acme", "/v1/process", 500, 10.0, 60),
            reqs("acme", "/v1/orders", 500, 10.0, 4),
            reqs("beta", "/v1/users", 500, 10.0, 12),
            reqs("beta", "/v1/orders", 500, 10.0, 12),
            reqs("beta", "/v1/items", 500, 10.0, 12),
        ]);
        let m = measure(&share_rule(10), &w, None, &["beta"]);
        let t = texts(&share_rule(10), &m[0], 100);
        assert_eq!(
            t.title,
            "Tenant acme responsible for 64% of 5xx in the last 10 minutes (endpoint /v1/process)"
        );
        assert_eq!(
            t.text,
            "acme had 64 of the project's 100 5xx in the last 10 minutes (64%); the rule fires above 50% \
             in 2 evaluations in a row. 94% of its 5xx were on /v1/process."
        );
        assert_eq!(
            t.resolved_title,
            "Tenant acme no longer responsible for more than 50% of 5xx (now 64% in the last 10 minutes)"
        );
        assert_eq!(t.figure, ("Share of 5xx", "64% (64 of 100)".to_owned()));
        // Split evenly between three endpoints: none dominates, none is named.
        let beta = texts(&share_rule(10), &m[1], 100);
        assert_eq!(
            beta.title,
            "Tenant beta responsible for 36% of 5xx in the last 10 minutes"
        );
        assert_eq!(beta.endpoint, None);
        let t = texts(&errors_rule(50, 40.0), &m[0], 100);
        assert_eq!(
            t.title,
            "Tenant acme had 64 5xx in the last 10 minutes (endpoint /v1/process)"
        );
        assert_eq!(
            t.resolved_title,
            "Tenant acme no longer has 50 5xx or more in the last 10 minutes (now 64)"
        );
    }

    #[test]
    fn the_latency_message_shows_both_p95s_and_the_endpoint() {
        let mut line = line(&Summary::default(), None, "acme", None);
        line.p95_ms = Some(812.0);
        line.baseline_p95_ms = Some(262.0);
        line.latency_endpoint = Some("/v1/reports".into());
        let m = Measure {
            level: Level::Over,
            value: 812.0 / 262.0,
            errors: 0,
            requests: 400,
            line,
        };
        let t = texts(&latency_rule(3.0, 20), &m, 0);
        assert_eq!(
            t.title,
            "Tenant acme's p95 is 3.1× its usual (812 ms vs 262 ms) on /v1/reports"
        );
        assert_eq!(
            t.resolved_title,
            "Tenant acme no longer slower than 3× its usual p95 (now 3.1×)"
        );
        assert!(t.text.contains("(3.1×, over 400 requests)"), "{}", t.text);
    }

    #[test]
    fn default_lower_bounds_are_a_fifth_below_the_threshold() {
        assert_eq!(default_resolve_below("tenant_share", 50.0), 40.0);
        assert_eq!(default_resolve_below("tenant_errors", 100.0), 80.0);
        assert_eq!(default_resolve_below("tenant_latency", 3.0), 2.6);
        assert_eq!(default_resolve_below("tenant_share", 7.0).to_string(), "5.6");
        assert_eq!(default_resolve_below("tenant_latency", 1.5).to_string(), "1.4");
    }
}
