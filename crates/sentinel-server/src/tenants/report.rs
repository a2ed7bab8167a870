//! The terminal form of a ranking (`sentinel top`):
//!
//! ```text
//! Top tenants by 5xx (last 10 minutes)
//! 1. tenant_acme    68% of all 5xx  (endpoint: /v1/process)
//! 2. tenant_beta    21%
//! ```

use std::fmt::Write as _;

use sentinel_store::{Project, Store};

use super::ranking::{By, Ranking};

/// The project named by its id, its slug, or `org/slug`.
pub async fn find_project(store: &dyn Store, spec: &str) -> anyhow::Result<Project> {
    let projects = store.list_projects().await?;
    let found: Vec<&Project> = projects
        .iter()
        .filter(|p| match spec.split_once('/') {
            Some((org, slug)) => p.org_slug == org && p.slug == slug,
            None => p.slug == spec || p.id.to_string() == spec,
        })
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            anyhow::bail!("no project {spec:?}: give its id, its slug or ORG/SLUG (`sentinel project list`)")
        }
        many => anyhow::bail!(
            "{} projects are called {spec:?}; say which: {}",
            many.len(),
            many.iter()
                .map(|p| format!("{}/{}", p.org_slug, p.slug))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `10m` → "last 10 minutes", `1h` → "last hour".
pub fn describe_window(window: &str) -> String {
    let (n, unit) = window.split_at(window.len().saturating_sub(1));
    let unit = match unit {
        "h" => "hour",
        _ => "minute",
    };
    match n {
        "1" => format!("last {unit}"),
        n => format!("last {n} {unit}s"),
    }
}

pub fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

pub fn render(r: &Ranking, window: &str) -> String {
    let what = match r.by {
        By::Errors => "5xx",
        By::ErrorRate => "error rate",
        By::Latency => "p95 latency against their baseline",
    };
    let mut out = format!("Top tenants by {what} ({})\n", describe_window(window));
    if r.tenants.is_empty() {
        let _ = writeln!(
            out,
            "No tenant to rank: {} requests, {} of them 5xx, in this window.",
            r.requests, r.errors
        );
        return out;
    }
    let width = r
        .tenants
        .iter()
        .map(|t| t.tenant.chars().count())
        .max()
        .unwrap_or(0);
    for (i, t) in r.tenants.iter().enumerate() {
        let head = format!("{}. {:<width$}", i + 1, t.tenant);
        let body = match r.by {
            By::Errors => {
                let mut s = format!("{:>4}", percent(t.share));
                if i == 0 {
                    s.push_str(" of all 5xx");
                }
                if let Some(e) = t.dominating_endpoint() {
                    let _ = write!(s, "  (endpoint: {e})");
                }
                s
            }
            By::ErrorRate => format!(
                "{:>4} of {} requests failed (at least {})",
                percent(t.error_rate.unwrap_or(0.0)),
                t.requests.unwrap_or(0),
                percent(t.error_rate_lower.unwrap_or(0.0)),
            ),
            By::Latency => {
                let mut s = match (t.p95_ms, t.vs_baseline, t.vs_all) {
                    (Some(p), Some(f), _) => format!("p95 {p:.0} ms, {f:.1}× its baseline"),
                    (Some(p), None, Some(f)) => format!("p95 {p:.0} ms, {f:.1}× all tenants"),
                    _ => "no latency figures".to_owned(),
                };
                if let (Some(e), Some(f)) = (&t.latency_endpoint, t.latency_endpoint_factor) {
                    let _ = write!(s, "  (endpoint: {e} {f:.1}×)");
                }
                s
            }
        };
        let _ = writeln!(out, "{head}  {body}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::ranking::TenantRank;
    use super::*;

    fn t(tenant: &str, share: f64, endpoint: Option<(&str, f64)>) -> TenantRank {
        TenantRank {
            tenant: tenant.into(),
            requests: Some(1000),
            errors: 10,
            share,
            error_rate: Some(0.5),
            error_rate_lower: Some(0.47),
            endpoint: endpoint.map(|e| e.0.to_owned()),
            endpoint_share: endpoint.map(|e| e.1),
            p95_ms: Some(612.0),
            baseline_p95_ms: Some(200.0),
            vs_baseline: Some(3.06),
            vs_all: Some(2.0),
            latency_endpoint: Some("/v1/reports".into()),
            latency_endpoint_factor: Some(3.1),
            latency_endpoint_p95_ms: Some(700.0),
        }
    }

    #[test]
    fn the_ranking_reads_as_the_issue_shows_it() {
        let r = Ranking {
            by: By::Errors,
            requests: 10_000,
            errors: 500,
            p95_ms: None,
            tenants: vec![
                t("tenant_acme", 0.68, Some(("/v1/process", 0.9))),
                t("tenant_beta", 0.21, Some(("/v1/users/{id}", 0.3))),
                t("tenant_gamma", 0.07, None),
            ],
        };
        assert_eq!(
            render(&r, "10m"),
            "Top tenants by 5xx (last 10 minutes)\n\
             1. tenant_acme    68% of all 5xx  (endpoint: /v1/process)\n\
             2. tenant_beta    21%\n\
             3. tenant_gamma    7%\n"
        );
        let r = Ranking {
            by: By::Latency,
            tenants: vec![t("tenant_slow", 0.0, None)],
            ..r
        };
        assert_eq!(
            render(&r, "1h"),
            "Top tenants by p95 latency against their baseline (last hour)\n\
             1. tenant_slow  p95 612 ms, 3.1× its baseline  (endpoint: /v1/reports 3.1×)\n"
        );
        let empty = Ranking { tenants: vec![], ..r };
        assert!(render(&empty, "5m").contains("No tenant to rank"));
    }
}
