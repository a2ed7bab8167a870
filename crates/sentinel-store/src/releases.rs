//! Releases: what a project's events and sessions tell about each version it shipped. Rows are
//! maintained by `apply_batch`; this trait reads them.

use async_trait::async_trait;
use serde::Serialize;

use crate::StoreError;
use crate::model::{Cursor, Issue, Page};

/// One release of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    pub id: i64,
    pub project_id: i64,
    pub version: String,
    /// First and last time anything (an event's timestamp, a session's arrival) named the release.
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Timestamps of its first and last event; `None` while it has only sessions.
    pub first_event_ms: Option<i64>,
    pub last_event_ms: Option<i64>,
    pub events: u64,
    /// Issues whose first event carried this release (counted when they were created).
    pub new_issues: u64,
    pub sessions: u64,
    /// Sessions that ended with errors but neither crashed nor abnormal.
    pub sessions_errored: u64,
    pub sessions_abnormal: u64,
    pub sessions_crashed: u64,
    /// Distinct users (session `did`s) and those of them with a crashed session.
    pub users: u64,
    pub users_crashed: u64,
}

impl Release {
    /// Percentage of sessions that did not crash; `None` without sessions.
    pub fn crash_free_sessions(&self) -> Option<f64> {
        crash_free(self.sessions, self.sessions_crashed)
    }

    /// Percentage of users without a crashed session; `None` without users.
    pub fn crash_free_users(&self) -> Option<f64> {
        crash_free(self.users, self.users_crashed)
    }
}

fn crash_free(total: u64, crashed: u64) -> Option<f64> {
    // A crash may be reported without its session's `init` update: never below 0 %.
    (total > 0).then(|| (100.0 * (1.0 - crashed as f64 / total as f64)).clamp(0.0, 100.0))
}

#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// The project's releases, newest first (by first seen, then id).
    async fn list_releases(
        &self,
        project_id: i64,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Release>, StoreError>;
    async fn get_release(&self, project_id: i64, version: &str) -> Result<Option<Release>, StoreError>;
    /// Issues of the project whose first event carried `version`, newest first, at most `limit`.
    async fn release_new_issues(
        &self,
        project_id: i64,
        version: &str,
        limit: usize,
    ) -> Result<Vec<Issue>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_free_rates_are_percentages_clamped_and_absent_without_data() {
        assert_eq!(crash_free(0, 0), None);
        assert_eq!(crash_free(4, 1), Some(75.0));
        assert_eq!(crash_free(1, 3), Some(0.0));
    }
}
