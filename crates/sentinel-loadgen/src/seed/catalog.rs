//! The shop's errors and the part each plays in a month of traffic: steady ones that follow the
//! daily rhythm, a long tail of rare ones, one per deployment, one regression, the nightly job's
//! panic, the incident's, and the chunk-load failures every deployment causes.

use crate::corpus::{IssueRef, browser, node, rust};

/// What an error does over the month.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Role {
    /// Follows the traffic all month; the weight is relative to the other steady errors.
    Steady(f64),
    /// Follows the traffic, but a few events a month.
    Rare(f64),
    /// Starts with a deployment (the plan picks which) in a burst, then trickles on until the next
    /// deployment fixes it.
    Introduced,
    /// Steady until a release fixes it, then back with a later release.
    Regression(f64),
    /// The nightly job's failure, 02:00–02:20 UTC on some nights.
    Nightly,
    /// Only during the incident; the weight is its share of it.
    Incident(f64),
    /// A short burst after every deployment, from browser tabs still running the old release.
    AfterDeploy,
}

#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pub issue: IssueRef,
    pub role: Role,
}

/// Weight of an introduced error between its burst and its fix, relative to the steady ones.
pub(crate) const INTRODUCED_TRICKLE: f64 = 2.5;

/// Python corpus groups: the 16 steady ones (the busiest errors of the month), 30 rare ones, and
/// the one a deployment introduces.
const PYTHON_STEADY: std::ops::Range<u32> = 0..16;
const PYTHON_RARE: std::ops::Range<u32> = 40..70;
const PYTHON_INTRODUCED: u32 = 102;

/// Every error of the scenario. Steady weights add up to about 100: Python about a third, the
/// storefront a quarter, the gateway a fifth, the ledger the rest.
pub(crate) fn catalog() -> Vec<Entry> {
    let e = |issue, role| Entry { issue, role };
    let mut out = Vec::with_capacity(80);
    // Zipf over the steady Python groups: a few loud issues, then quieter ones (sum ≈ 34).
    out.extend(PYTHON_STEADY.map(|g| e(IssueRef::Python(g), Role::Steady(10.0 / f64::from(g + 1)))));
    out.extend(PYTHON_RARE.map(|g| e(IssueRef::Python(g), Role::Rare(0.05))));
    out.push(e(IssueRef::Python(PYTHON_INTRODUCED), Role::Introduced));

    out.extend([
        e(IssueRef::Node(&node::CART_TOTALS), Role::Steady(8.0)),
        e(IssueRef::Node(&node::SHOP_API_502), Role::Steady(5.0)),
        e(IssueRef::Node(&node::JWT_MALFORMED), Role::Steady(4.0)),
        e(IssueRef::Node(&node::REDIS_REFUSED), Role::Steady(3.0)),
        e(IssueRef::Node(&node::INVALID_TIME), Role::Rare(0.3)),
        e(IssueRef::Node(&node::PARTNER_JSON), Role::Rare(0.25)),
        e(IssueRef::Node(&node::WEBHOOK_SIGNATURE), Role::Rare(0.4)),
        e(IssueRef::Node(&node::QUEUE_PAUSED), Role::Rare(0.15)),
        e(IssueRef::Node(&node::SHOP_API_TIMEOUT), Role::Incident(0.45)),
        e(IssueRef::Node(&node::PROFILE_DESTRUCTURE), Role::Introduced),
    ]);

    out.extend([
        e(IssueRef::Browser(&browser::PRODUCT_PRICE), Role::Steady(10.0)),
        e(IssueRef::Browser(&browser::FAILED_TO_FETCH), Role::Steady(8.0)),
        e(IssueRef::Browser(&browser::SAFARI_ITEMS), Role::Steady(4.0)),
        e(IssueRef::Browser(&browser::HTML_NOT_JSON), Role::Steady(3.0)),
        e(IssueRef::Browser(&browser::ORDER_ROWS), Role::Regression(5.0)),
        e(IssueRef::Browser(&browser::LOCAL_STORAGE), Role::Rare(0.3)),
        e(IssueRef::Browser(&browser::RESIZE_OBSERVER), Role::Rare(0.5)),
        e(IssueRef::Browser(&browser::NON_ERROR_REJECTION), Role::Rare(0.3)),
        e(IssueRef::Browser(&browser::CHUNK_LOAD), Role::AfterDeploy),
        e(IssueRef::Browser(&browser::PAYMENT_WIDGET), Role::Introduced),
    ]);

    out.extend([
        e(IssueRef::Rust(&rust::POOL_TIMED_OUT), Role::Steady(6.0)),
        e(IssueRef::Rust(&rust::SETTLE_RATE_LIMITED), Role::Steady(5.0)),
        e(IssueRef::Rust(&rust::REFUND_OVERFLOW), Role::Rare(0.2)),
        e(IssueRef::Rust(&rust::STATEMENT_DEADLINE), Role::Rare(0.4)),
        e(IssueRef::Rust(&rust::RECONCILE_UNWRAP), Role::Nightly),
        e(IssueRef::Rust(&rust::DB_CONNECTION_RESET), Role::Incident(0.55)),
        e(IssueRef::Rust(&rust::FEE_INDEX), Role::Introduced),
    ]);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_platform_has_errors_to_introduce_and_the_scenario_has_one_of_each_special_role() {
        let c = catalog();
        let introduced: HashSet<_> = c
            .iter()
            .filter(|e| e.role == Role::Introduced)
            .map(|e| e.issue.platform())
            .collect();
        assert_eq!(
            introduced.len(),
            4,
            "one per platform, enough for four deployments"
        );
        let count = |f: fn(&Role) -> bool| c.iter().filter(|e| f(&e.role)).count();
        assert_eq!(count(|r| matches!(r, Role::Regression(_))), 1);
        assert_eq!(count(|r| matches!(r, Role::Nightly)), 1);
        assert_eq!(count(|r| matches!(r, Role::AfterDeploy)), 1);
        assert!(count(|r| matches!(r, Role::Rare(_))) >= 30);
    }

    #[test]
    fn no_error_appears_twice() {
        let titles: Vec<String> = catalog()
            .iter()
            .map(|e| format!("{:?} {}", e.issue.platform(), e.issue.title()))
            .collect();
        let python: Vec<u32> = catalog()
            .iter()
            .filter_map(|e| match e.issue {
                IssueRef::Python(g) => Some(g),
                _ => None,
            })
            .collect();
        let distinct: HashSet<&u32> = python.iter().collect();
        assert_eq!(distinct.len(), python.len());
        let non_python: HashSet<&String> = titles.iter().filter(|t| !t.starts_with("Python")).collect();
        assert_eq!(non_python.len(), titles.len() - python.len());
    }
}
