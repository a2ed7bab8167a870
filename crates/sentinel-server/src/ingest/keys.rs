//! Project keys as ingest sees them, cached so authenticating a request costs no database read.
//!
//! A key changed through the API (revoked, regenerated, limit changed) is forgotten at once by
//! the node that served the change; every other node reads it again within [`TTL_MS`], so a
//! revoked key is refused everywhere at most 10 seconds after the change.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sentinel_store::{Store, StoreError};

use crate::clock::Clock;

/// How long a looked-up key (and its limits) is trusted before it is read again: the longest a
/// revoked key keeps working on a node that did not make the change.
pub const TTL_MS: i64 = 10_000;
/// How long an unknown key is remembered as unknown, so wrong keys cannot flood the database.
const NEGATIVE_TTL_MS: i64 = 5_000;
const MAX_NEGATIVE: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub key_id: i64,
    pub public_key: String,
    pub project_id: i64,
    pub active: bool,
    pub key_limit: Option<u32>,
    pub project_limit: Option<u32>,
}

#[derive(Clone)]
pub struct KeyCache {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    known: Arc<RwLock<HashMap<String, (i64, KeyInfo)>>>,
    unknown: Arc<RwLock<HashMap<String, i64>>>,
}

impl KeyCache {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            known: Arc::default(),
            unknown: Arc::default(),
        }
    }

    /// Drops the cached state of a key, so the next request through it reads the store.
    pub fn forget(&self, public_key: &str) {
        self.known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(public_key);
        self.unknown
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(public_key);
    }

    /// Drops the cached state of every key of a project (its project-wide limit changed).
    pub fn forget_project(&self, project_id: i64) {
        self.known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (_, info)| info.project_id != project_id);
    }

    /// The key's project and limits, or `None` if no such key exists.
    pub async fn lookup(&self, public_key: &str) -> Result<Option<KeyInfo>, StoreError> {
        let now = self.clock.now_ms();
        if let Some((at, info)) = self
            .known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(public_key)
            && now - at < TTL_MS
        {
            return Ok(Some(info.clone()));
        }
        if let Some(at) = self
            .unknown
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(public_key)
            && now - at < NEGATIVE_TTL_MS
        {
            return Ok(None);
        }
        let Some(key) = self.store.find_key(public_key).await? else {
            let mut unknown = self.unknown.write().unwrap_or_else(|p| p.into_inner());
            if unknown.len() >= MAX_NEGATIVE {
                unknown.clear();
            }
            unknown.insert(public_key.to_owned(), now);
            return Ok(None);
        };
        let project_limit = self
            .store
            .get_project(key.project_id)
            .await?
            .and_then(|p| p.rate_limit_per_minute);
        let info = KeyInfo {
            key_id: key.id,
            public_key: key.public_key.clone(),
            project_id: key.project_id,
            active: key.active,
            key_limit: key.rate_limit_per_minute,
            project_limit,
        };
        self.known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(public_key.to_owned(), (now, info.clone()));
        Ok(Some(info))
    }
}
