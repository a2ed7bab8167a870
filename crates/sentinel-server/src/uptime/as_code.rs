//! Monitors as code: a TOML file lists the monitors projects should have, and [`apply`] makes the
//! database match it. Applying the same file twice changes nothing the second time.
//!
//! ```toml
//! [[monitor]]
//! project = "shop"            # the project's slug, in organization `org` (default "default")
//! name = "Shop homepage"
//! slug = "shop-homepage"      # optional: derived from the name, as the API does for heartbeats
//! type = "http"
//! url = "https://shop.example.com/"
//! interval_seconds = 60
//! ```
//!
//! Every other field is a field of the API's monitor JSON, with the same meaning: each entry is
//! turned into that JSON and validated by [`api::parse_monitor`], so the file and the API accept
//! exactly the same monitors. A field left out takes the API's default (not the monitor's current
//! value): the file is the whole definition.
//!
//! A monitor is identified by `(project, slug)`. Monitors made from a file keep their slug in the
//! store whatever their type, so renaming one in the file updates it. A checked (HTTP, TCP, DNS)
//! monitor made in the API or dashboard has no slug: an entry adopts it when the slug of its name
//! is the entry's slug. Cron monitors are made by SDK check-ins: a file cannot declare them, and
//! pruning leaves them alone.

use std::collections::{HashMap, HashSet};
use std::fmt;

use sentinel_store::{Monitor, MonitorKind, NewMonitor, Project, Store, StoreError, slugify};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::ApiError;
use crate::clock::Clock;
use crate::uptime::{api, cron};

/// The organization of entries that name none (the one `sentinel project create` uses).
const DEFAULT_ORG: &str = "default";
/// Monitors read per store call while comparing.
const PAGE: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum AsCodeError {
    /// Not TOML, or not a list of `[[monitor]]` tables.
    #[error("{0}")]
    Syntax(String),
    /// Entries the API would refuse (or that clash with each other or the database); nothing was
    /// applied.
    #[error("{} invalid, nothing applied:\n{}", plural(.0.len(), "monitor"), lines(.0))]
    Invalid(Vec<EntryError>),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// Why one entry of the file is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// 1-based position among the `[[monitor]]` tables.
    pub index: usize,
    /// Its `name` (or `slug`), to find it in the file.
    pub label: String,
    /// The API's message, which names the field (`interval_seconds must be …`).
    pub message: String,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[[monitor]] #{} ({}): {}",
            self.index, self.label, self.message
        )
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn lines(errors: &[EntryError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One `[[monitor]]` table, its placement split from the monitor JSON.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    index: usize,
    label: String,
    org: String,
    project: String,
    /// Everything else: the body the API would take (with `slug`, when given).
    body: Map<String, Value>,
}

/// A parsed monitors file; [`apply`] validates its entries against the API's rules.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MonitorsFile {
    entries: Vec<Entry>,
}

impl MonitorsFile {
    /// Reads the TOML text: `[[monitor]]` tables with a `project` each (and nothing else at the
    /// top level).
    pub fn parse(text: &str) -> Result<Self, AsCodeError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| AsCodeError::Syntax(e.to_string()))?;
        if let Some(key) = table.keys().find(|k| *k != "monitor") {
            return Err(AsCodeError::Syntax(format!(
                "unknown top-level key {key:?}: the file holds [[monitor]] tables only"
            )));
        }
        let list = match table.get("monitor") {
            None => return Ok(Self::default()),
            Some(toml::Value::Array(list)) => list,
            Some(_) => {
                return Err(AsCodeError::Syntax(
                    "monitor must be a list of tables: write each as [[monitor]]".into(),
                ));
            }
        };
        let mut entries = Vec::with_capacity(list.len());
        let mut errors = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let index = i + 1;
            let Ok(Value::Object(mut body)) = serde_json::to_value(item) else {
                errors.push(EntryError {
                    index,
                    label: "?".into(),
                    message: "must be a table of fields".into(),
                });
                continue;
            };
            let label = ["name", "slug", "url", "host"]
                .iter()
                .find_map(|k| body.get(*k).and_then(Value::as_str))
                .map_or_else(|| "unnamed".to_owned(), |s| format!("{s:?}"));
            let mut slug_of = |field: &str, default: Option<&str>| match (body.remove(field), default) {
                (Some(Value::String(s)), _) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                (None, Some(d)) => Ok(d.to_owned()),
                (None, None) => Err(format!("{field} is required: the slug of the monitor's project")),
                (Some(other), _) => Err(format!("{field} must be a slug (a string), not {other}")),
            };
            let placed = slug_of("project", None).and_then(|p| Ok((slug_of("org", Some(DEFAULT_ORG))?, p)));
            match placed {
                Ok((org, project)) => entries.push(Entry {
                    index,
                    label,
                    org,
                    project,
                    body,
                }),
                Err(message) => errors.push(EntryError {
                    index,
                    label,
                    message,
                }),
            }
        }
        if errors.is_empty() {
            Ok(Self { entries })
        } else {
            Err(AsCodeError::Invalid(errors))
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A monitor named in a plan: `project/slug` (`org/project/slug` outside the default
/// organization).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MonitorRef {
    pub org: String,
    pub project: String,
    pub slug: String,
}

impl fmt::Display for MonitorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.org != DEFAULT_ORG {
            write!(f, "{}/", self.org)?;
        }
        write!(f, "{}/{}", self.project, self.slug)
    }
}

/// What an apply did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub created: Vec<MonitorRef>,
    pub updated: Vec<MonitorRef>,
    pub unchanged: Vec<MonitorRef>,
    pub deleted: Vec<MonitorRef>,
}

impl Plan {
    /// One line per change: `+ shop/homepage`, `~ shop/api`, `- shop/old`.
    pub fn change_lines(&self) -> Vec<String> {
        let marked = |mark: char, list: &[MonitorRef]| {
            list.iter()
                .map(move |m| format!("{mark} {m}"))
                .collect::<Vec<_>>()
        };
        [
            marked('+', &self.created),
            marked('~', &self.updated),
            marked('-', &self.deleted),
        ]
        .concat()
    }

    /// `monitors: 1 created, 0 updated, 3 unchanged, 0 deleted`.
    pub fn summary(&self) -> String {
        format!(
            "monitors: {} created, {} updated, {} unchanged, {} deleted",
            self.created.len(),
            self.updated.len(),
            self.unchanged.len(),
            self.deleted.len()
        )
    }

    pub fn changes(&self) -> usize {
        self.created.len() + self.updated.len() + self.deleted.len()
    }
}

/// A store write the plan calls for.
enum Change {
    Create(NewMonitor),
    Update(i64, NewMonitor),
    Delete(i64),
}

/// Makes the monitors of the projects named in `file` match it: creates the missing ones, updates
/// those that differ (their status history stays; the status starts over only when what is
/// checked changed, as for an API update), leaves identical ones untouched and, with `prune`,
/// deletes those the file no longer lists (cron monitors excepted; projects the file does not
/// name are never touched). Every entry is validated, and compared with the database, before
/// anything is written: one invalid entry and nothing is applied. With `dry_run` nothing is
/// written and the plan says what would be.
///
/// The writes are not one transaction: if storage fails halfway, applying again finishes the job.
pub async fn apply(
    store: &dyn Store,
    clock: &dyn Clock,
    file: &MonitorsFile,
    prune: bool,
    dry_run: bool,
) -> Result<Plan, AsCodeError> {
    let now = clock.now_ms();
    let projects = store.list_projects().await?;
    let mut errors = Vec::new();
    let mut wanted: Vec<(&Entry, &Project, NewMonitor)> = Vec::new();
    let mut seen: HashMap<(i64, String), usize> = HashMap::new();
    for entry in &file.entries {
        let refuse = |message: String| EntryError {
            index: entry.index,
            label: entry.label.clone(),
            message,
        };
        let Some(project) = projects
            .iter()
            .find(|p| p.org_slug == entry.org && p.slug == entry.project)
        else {
            errors.push(refuse(format!(
                "project: no project {:?} in organization {:?} (see `sentinel project list`)",
                entry.project, entry.org
            )));
            continue;
        };
        match desired(project.id, &entry.body, now) {
            Ok(new) => {
                let slug = new.slug.clone().unwrap_or_default();
                if let Some(first) = seen.insert((project.id, slug.clone()), entry.index) {
                    errors.push(refuse(format!(
                        "slug: {slug} is also the slug of [[monitor]] #{first} of project {}: \
                         give one of them another slug",
                        entry.project
                    )));
                } else {
                    wanted.push((entry, project, new));
                }
            }
            Err(message) => errors.push(refuse(message)),
        }
    }

    let mut plan = Plan::default();
    let mut writes = Vec::new();
    let mut named: Vec<&Project> = Vec::new();
    for (_, project, _) in &wanted {
        if !named.iter().any(|p| p.id == project.id) {
            named.push(*project);
        }
    }
    for project in named {
        let mut existing = all_monitors(store, project.id).await?;
        let at = |slug: &str| MonitorRef {
            org: project.org_slug.clone(),
            project: project.slug.clone(),
            slug: slug.to_owned(),
        };
        let mut matched = HashSet::new();
        for (entry, _, new) in wanted.iter().filter(|(_, p, _)| p.id == project.id) {
            let slug = new.slug.clone().unwrap_or_default();
            let found = existing
                .iter()
                .find(|m| m.slug.as_deref() == Some(slug.as_str()))
                .or_else(|| {
                    // A checked monitor made in the API: known by its name.
                    existing
                        .iter()
                        .find(|m| m.slug.is_none() && !matched.contains(&m.id) && slugify(&m.name) == slug)
                });
            let Some(current) = found else {
                plan.created.push(at(&slug));
                writes.push(Change::Create(new.clone()));
                continue;
            };
            matched.insert(current.id);
            if current.kind != new.kind {
                errors.push(EntryError {
                    index: entry.index,
                    label: entry.label.clone(),
                    message: format!(
                        "type: monitor {slug} is a {} monitor and its type cannot change: give \
                         the entry another slug, or delete the monitor first",
                        current.kind.as_str()
                    ),
                });
            } else if same(current, new) {
                plan.unchanged.push(at(&slug));
            } else {
                let mut update = new.clone();
                if api::keeps_schedule(current, new) {
                    update.next_check_ms = current.next_check_ms;
                }
                plan.updated.push(at(&slug));
                writes.push(Change::Update(current.id, update));
            }
        }
        if prune {
            existing.retain(|m| !matched.contains(&m.id) && m.kind != MonitorKind::Cron);
            for m in existing {
                plan.deleted
                    .push(at(&m.slug.clone().unwrap_or_else(|| slugify(&m.name))));
                writes.push(Change::Delete(m.id));
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.index);
        return Err(AsCodeError::Invalid(errors));
    }
    if dry_run {
        return Ok(plan);
    }
    for write in writes {
        match write {
            Change::Create(new) => match store.create_monitor(&new, now).await {
                Ok(m) => {
                    tracing::info!(monitor.id = m.id, project.id = m.project_id, slug = ?m.slug, "monitor created from a file");
                }
                // Another process applying the same file at start-up made it meanwhile.
                Err(StoreError::Conflict(_))
                    if store
                        .monitor_by_slug(new.project_id, new.slug.as_deref().unwrap_or_default())
                        .await?
                        .is_some_and(|m| m.kind == new.kind) => {}
                Err(e) => return Err(e.into()),
            },
            Change::Update(id, new) => {
                store.update_monitor(id, &new, now).await?;
                tracing::info!(monitor.id = id, slug = ?new.slug, "monitor updated from a file");
            }
            Change::Delete(id) => {
                store.delete_monitor(id).await?;
                tracing::info!(monitor.id = id, "monitor deleted: no longer in the file");
            }
        }
    }
    Ok(plan)
}

/// The monitor an entry describes, validated by the API's rules, with its slug set (the
/// identity it is matched by).
fn desired(project_id: i64, body: &Map<String, Value>, now_ms: i64) -> Result<NewMonitor, String> {
    let message = |e: ApiError| e.to_string();
    let mut body = body.clone();
    // The API takes a slug for heartbeats (their name in check-ins) and refuses it for the
    // checked kinds, which the file identifies by slug all the same.
    let passive = matches!(
        body.get("type")
            .and_then(Value::as_str)
            .map(|t| t.trim().to_ascii_lowercase())
            .as_deref(),
        Some("heartbeat" | "cron")
    );
    let given = if passive { None } else { body.remove("slug") };
    let mut new = api::parse_monitor(project_id, &body, None, now_ms).map_err(message)?;
    if new.slug.is_none() {
        let slug = match given {
            Some(Value::String(s)) => s,
            Some(other) => return Err(format!("slug must be a string, not {other}")),
            None => slugify(&new.name),
        };
        new.slug = Some(cron::parse_slug(&slug)?);
    }
    Ok(new)
}

/// Whether the monitor already is what the file says. The next check is not compared (it moves
/// on by itself), nor a heartbeat's period (its schedule, in the config, says it all).
fn same(current: &Monitor, new: &NewMonitor) -> bool {
    current.name == new.name
        && current.config == new.config
        && (!new.kind.is_active() || current.interval_ms == new.interval_ms)
        && current.timeout_ms == new.timeout_ms
        && current.failure_threshold == new.failure_threshold
        && current.recovery_threshold == new.recovery_threshold
        && current.enabled == new.enabled
        && current.public == new.public
        && current.regions == new.regions
        && current.region_quorum == new.region_quorum
}

async fn all_monitors(store: &dyn Store, project_id: i64) -> Result<Vec<Monitor>, StoreError> {
    let mut all = Vec::new();
    loop {
        let page = store
            .list_monitors(project_id, PAGE, all.last().map(|m: &Monitor| m.id))
            .await?;
        let done = page.len() < PAGE;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_splits_placement_from_the_monitor_json() {
        let file = MonitorsFile::parse(
            r#"
            [[monitor]]
            project = "shop"
            name = "Shop homepage"
            type = "http"
            url = "https://shop.example.com/"
            interval_seconds = 60
            headers = { "X-Probe" = "sentinel" }

            [[monitor]]
            org = "acme"
            project = "api"
            type = "tcp"
            host = "db.internal"
            port = 5432
            "#,
        )
        .unwrap();
        assert_eq!(file.len(), 2);
        let shop = &file.entries[0];
        assert_eq!((shop.org.as_str(), shop.project.as_str()), ("default", "shop"));
        assert_eq!(shop.body["interval_seconds"], 60);
        assert_eq!(shop.body["headers"]["X-Probe"], "sentinel");
        assert!(!shop.body.contains_key("project"));
        assert_eq!(file.entries[1].org, "acme");
        assert_eq!(file.entries[1].label, "\"db.internal\"");
    }

    #[test]
    fn entries_without_a_project_are_named_by_index_and_name() {
        let err = MonitorsFile::parse(
            "[[monitor]]\nproject = \"shop\"\nname = \"A\"\n\n[[monitor]]\nname = \"B\"\ntype = \"http\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("[[monitor]] #2 (\"B\"): project is required"),
            "{err}"
        );
    }

    #[test]
    fn other_top_level_keys_and_bad_toml_are_refused() {
        let err = MonitorsFile::parse("monitors = []").unwrap_err().to_string();
        assert!(err.contains("unknown top-level key \"monitors\""), "{err}");
        assert!(MonitorsFile::parse("[[monitor]\n").is_err());
        assert!(MonitorsFile::parse("").unwrap().is_empty());
    }

    #[test]
    fn checked_monitors_get_the_slug_of_their_name_and_heartbeats_keep_the_apis() {
        let mut body = Map::new();
        body.insert("type".into(), "http".into());
        body.insert("name".into(), "Shop Homepage!".into());
        body.insert("url".into(), "https://shop.example.com/".into());
        let new = desired(1, &body, 0).unwrap();
        assert_eq!(new.slug.as_deref(), Some("shop-homepage"));
        body.insert("slug".into(), "front".into());
        assert_eq!(desired(1, &body, 0).unwrap().slug.as_deref(), Some("front"));
        body.insert("slug".into(), "Not A Slug".into());
        assert!(desired(1, &body, 0).unwrap_err().contains("slug"));

        let mut beat = Map::new();
        beat.insert("type".into(), "heartbeat".into());
        beat.insert("name".into(), "Nightly backup".into());
        assert_eq!(
            desired(1, &beat, 0).unwrap().slug.as_deref(),
            Some("nightly-backup")
        );
    }
}
