//! Time partitions of `events`, `items` (daily, by `received_ms`), `rollups_minute` (daily, by
//! `minute_ms`), `rollups_hour` (monthly, by `hour_ms`) and `check_results` (daily, by `slot_ms`).
//!
//! Partition names and bounds are computed here from integers only (`events_p20261123`,
//! `rollups_hour_p202611`), never taken from input, so they can be written into DDL. Rows must
//! never fail to insert for want of a partition: writers call `ensure` for their rows first, which
//! creates what is missing in short transactions of its own (creating a partition locks the parent
//! table, which must not happen inside a batch transaction). Known partitions are cached.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use sentinel_store::{DAY_MS, StoreError};
use sqlx::PgPool;

use crate::{db_err, sqlstate};

/// How long partition DDL waits for the parent table's lock before giving up (it would otherwise
/// queue every writer behind it).
const DDL_LOCK_TIMEOUT: &str = "10s";
/// A sanity bound on one `ensure` call (about 270 years of days).
const MAX_PARTITIONS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Events,
    Items,
    RollupsMinute,
    RollupsHour,
    CheckResults,
}

impl Family {
    pub const ALL: [Family; 5] = [
        Family::Events,
        Family::Items,
        Family::RollupsMinute,
        Family::RollupsHour,
        Family::CheckResults,
    ];

    pub fn parent(self) -> &'static str {
        match self {
            Family::Events => "events",
            Family::Items => "items",
            Family::RollupsMinute => "rollups_minute",
            Family::RollupsHour => "rollups_hour",
            Family::CheckResults => "check_results",
        }
    }

    fn monthly(self) -> bool {
        self == Family::RollupsHour
    }

    /// The partition that holds rows stamped `ms`.
    pub fn partition_of(self, ms: i64) -> Result<Partition, StoreError> {
        let day = ms.div_euclid(DAY_MS);
        let (y, m, _) = civil_from_days(day);
        if !(0..=9999).contains(&y) {
            return Err(StoreError::Conflict(format!(
                "time {ms} ms is outside the years 0–9999 that {} can be partitioned by",
                self.parent()
            )));
        }
        let (from_day, to_day) = if self.monthly() {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (days_from_civil(y, m, 1), days_from_civil(ny, nm, 1))
        } else {
            (day, day + 1)
        };
        Ok(Partition {
            family: self,
            from_ms: from_day * DAY_MS,
            to_ms: to_day * DAY_MS,
        })
    }

    /// The partition a table name of this family stands for, if it is one of ours.
    pub fn parse(self, name: &str) -> Option<Partition> {
        let digits = name.strip_prefix(self.parent())?.strip_prefix("_p")?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let num = |r: std::ops::Range<usize>| digits.get(r)?.parse::<i64>().ok();
        let (y, m, d) = match (self.monthly(), digits.len()) {
            (true, 6) => (num(0..4)?, num(4..6)?, 1),
            (false, 8) => (num(0..4)?, num(4..6)?, num(6..8)?),
            _ => return None,
        };
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        let part = self.partition_of(days_from_civil(y, m, d) * DAY_MS).ok()?;
        // Rejects dates that do not exist (`…0231`): they would name another partition.
        (part.name() == name).then_some(part)
    }

    /// The partitions covering `[from_ms, until_ms)`.
    pub fn covering(self, from_ms: i64, until_ms: i64) -> Result<Vec<Partition>, StoreError> {
        let mut out = Vec::new();
        if from_ms >= until_ms {
            return Ok(out);
        }
        let mut next = self.partition_of(from_ms)?;
        loop {
            let to = next.to_ms;
            out.push(next);
            if to >= until_ms {
                return Ok(out);
            }
            if out.len() >= MAX_PARTITIONS {
                return Err(StoreError::Conflict(format!(
                    "refusing to create more than {MAX_PARTITIONS} partitions of {} at once",
                    self.parent()
                )));
            }
            next = self.partition_of(to)?;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    pub family: Family,
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Partition {
    pub fn name(&self) -> String {
        let (y, m, d) = civil_from_days(self.from_ms.div_euclid(DAY_MS));
        let parent = self.family.parent();
        if self.family.monthly() {
            format!("{parent}_p{y:04}{m:02}")
        } else {
            format!("{parent}_p{y:04}{m:02}{d:02}")
        }
    }
}

/// Every family's partitions covering `[from_ms, until_ms)`.
pub fn covering_all(from_ms: i64, until_ms: i64) -> Result<Vec<Partition>, StoreError> {
    let mut out = Vec::new();
    for family in Family::ALL {
        out.extend(family.covering(from_ms, until_ms)?);
    }
    Ok(out)
}

#[derive(Default)]
pub struct Partitions {
    known: Mutex<HashSet<String>>,
}

impl Partitions {
    fn known(&self) -> MutexGuard<'_, HashSet<String>> {
        self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates the partitions in `wanted` that do not exist yet. Safe when several nodes race:
    /// `IF NOT EXISTS`, and a duplicate reported by the catalog counts as success.
    pub async fn ensure(
        &self,
        pool: &PgPool,
        wanted: impl IntoIterator<Item = Partition>,
    ) -> Result<(), StoreError> {
        let mut missing: BTreeMap<String, Partition> = {
            let known = self.known();
            wanted
                .into_iter()
                .map(|p| (p.name(), p))
                .filter(|(name, _)| !known.contains(name))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = missing.keys().map(String::as_str).collect();
        let existing: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname = ANY($1)",
        )
        .bind(&names)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        for name in existing {
            missing.remove(&name);
            self.known().insert(name);
        }
        for (name, part) in missing {
            create(pool, &name, &part).await?;
            self.known().insert(name);
        }
        Ok(())
    }

    /// After a partition was dropped (here or, as an insert error shows, by another node).
    pub fn forget(&self, name: &str) {
        self.known().remove(name);
    }

    pub fn forget_all(&self) {
        self.known().clear();
    }
}

async fn create(pool: &PgPool, name: &str, part: &Partition) -> Result<(), StoreError> {
    let ddl = format!(
        "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {parent} FOR VALUES FROM ({from}) TO ({to})",
        parent = part.family.parent(),
        from = part.from_ms,
        to = part.to_ms,
    );
    let result = async {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(DDL_LOCK_TIMEOUT)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(ddl)).execute(&mut *tx).await?;
        tx.commit().await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(partition = name, "created partition");
            Ok(())
        }
        // Another node created it between our check and our CREATE.
        Err(e) if matches!(sqlstate(&e).as_deref(), Some("42P07" | "23505" | "42710")) => Ok(()),
        Err(e) => Err(db_err(e)),
    }
}

/// The partitions of `family` that exist, oldest first (tables of other names are ignored).
pub async fn list(pool: &PgPool, family: Family) -> Result<Vec<Partition>, StoreError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid \
         JOIN pg_class p ON p.oid = i.inhparent \
         JOIN pg_namespace n ON n.oid = p.relnamespace \
         WHERE n.nspname = current_schema() AND p.relname = $1",
    )
    .bind(family.parent())
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut parts: Vec<Partition> = names.iter().filter_map(|n| family.parse(n)).collect();
    parts.sort();
    Ok(parts)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_23_2026: i64 = 1_795_392_000_000; // 2026-11-23T00:00:00Z

    #[test]
    fn daily_partitions_are_named_by_their_utc_date() {
        let p = Family::Events.partition_of(NOV_23_2026 + 5).expect("in range");
        assert_eq!(p.name(), "events_p20261123");
        assert_eq!((p.from_ms, p.to_ms), (NOV_23_2026, NOV_23_2026 + DAY_MS));
        let before = Family::Items.partition_of(NOV_23_2026 - 1).expect("in range");
        assert_eq!(before.name(), "items_p20261122");
        assert_eq!(
            Family::RollupsMinute.partition_of(0).expect("epoch").name(),
            "rollups_minute_p19700101"
        );
        assert_eq!(
            Family::Events.partition_of(-1).expect("1969").name(),
            "events_p19691231"
        );
        assert_eq!(
            Family::CheckResults
                .partition_of(NOV_23_2026)
                .expect("in range")
                .name(),
            "check_results_p20261123"
        );
    }

    #[test]
    fn hourly_rollups_are_partitioned_by_calendar_month() {
        let p = Family::RollupsHour.partition_of(NOV_23_2026).expect("in range");
        assert_eq!(p.name(), "rollups_hour_p202611");
        assert_eq!(p.to_ms - p.from_ms, 30 * DAY_MS);
        let dec = Family::RollupsHour.partition_of(p.to_ms).expect("in range");
        assert_eq!(dec.name(), "rollups_hour_p202612");
        let jan = Family::RollupsHour.partition_of(dec.to_ms).expect("in range");
        assert_eq!(jan.name(), "rollups_hour_p202701");
        assert_eq!(dec.to_ms - dec.from_ms, 31 * DAY_MS);
    }

    #[test]
    fn names_parse_back_to_their_partitions() {
        for family in Family::ALL {
            let p = family.partition_of(NOV_23_2026 + 7 * DAY_MS).expect("in range");
            assert_eq!(family.parse(&p.name()), Some(p));
        }
        assert_eq!(Family::Events.parse("events_p20260231"), None);
        assert_eq!(Family::Events.parse("events_p2026112"), None);
        assert_eq!(Family::Events.parse("items_p20261123"), None);
        assert_eq!(Family::RollupsMinute.parse("rollups_minute_default"), None);
    }

    #[test]
    fn covering_spans_the_range_without_gaps() {
        let parts = Family::Events
            .covering(NOV_23_2026 + 1, NOV_23_2026 + 3 * DAY_MS)
            .expect("in range");
        assert_eq!(parts.len(), 3);
        assert!(parts.windows(2).all(|w| w[0].to_ms == w[1].from_ms));
        assert!(Family::Events.covering(5, 5).expect("empty").is_empty());
        assert_eq!(
            Family::RollupsHour
                .covering(NOV_23_2026, NOV_23_2026 + 10 * DAY_MS)
                .expect("in range")
                .len(),
            2
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in (-800_000..3_000_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn times_outside_four_digit_years_are_refused() {
        assert!(Family::Events.partition_of(i64::MAX / 2).is_err());
        assert!(Family::Events.partition_of(-70_000_000_000_000).is_err());
    }
}
