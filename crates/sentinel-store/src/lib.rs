//! The storage interface of Sentinel: the `Store` trait, its error type and the domain rows it
//! reads and writes.
//!
//! No backend code lives here. Backends (SQLite, PostgreSQL) implement `Store` in their own crates
//! and own their SQL and migrations; callers only ever see these types. This crate depends on the
//! protocol crate for wire-level value types (event ids, levels) and on nothing of the server.

mod maintenance;
mod model;
mod slug;
mod store;
pub mod transfer;

pub use maintenance::{DAY_MS, HOUR_MS, Lease, RetentionPolicy, RetentionReport};
pub use model::{
    ApiToken, BatchOutcome, CompressionDict, CountScope, Cursor, EventRow, InboxItem, InboxStats, Issue,
    IssueQuery, IssueSort, IssueStatus, ItemKind, NewEvent, NewInboxItem, NewStoredItem, OutcomeCount, Page,
    ProcessedBatch, Project, ProjectKey, StoredEvent, TagDistribution, TagValueCount,
};
pub use slug::slugify;
pub use store::{Store, StoreError};
