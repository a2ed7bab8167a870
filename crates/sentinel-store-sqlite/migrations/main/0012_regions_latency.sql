-- Checks from several regions, and latency histograms for response-time percentiles.
--
-- A monitor with regions is checked from each of them every slot (one job per region); a slot
-- fails when region_quorum of them (0: a majority) fail it. regions_json: a JSON array of labels.
ALTER TABLE monitors ADD COLUMN regions_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE monitors ADD COLUMN region_quorum INTEGER NOT NULL DEFAULT 0;

-- Jobs are keyed by region too ('': any checker may run it). Queued jobs are kept.
CREATE TABLE check_jobs_by_region (
    monitor_id INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    slot_ms INTEGER NOT NULL,
    region TEXT NOT NULL DEFAULT '',
    claimed_until_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (monitor_id, slot_ms, region)
) WITHOUT ROWID;
INSERT INTO check_jobs_by_region (monitor_id, slot_ms, region, claimed_until_ms)
    SELECT monitor_id, slot_ms, '', claimed_until_ms FROM check_jobs;
DROP TABLE check_jobs;
ALTER TABLE check_jobs_by_region RENAME TO check_jobs;
-- What checkers claim next, oldest slot first.
CREATE INDEX check_jobs_due ON check_jobs (slot_ms, monitor_id);

-- Successful checks per latency bin (sentinel_store::latency) of each rollup bucket: the
-- percentiles of any span of buckets come from their sums. Kept as long as monitor_rollups.
CREATE TABLE monitor_latency (
    monitor_id INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    resolution TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    bin INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    PRIMARY KEY (monitor_id, resolution, bucket_ms, bin)
) WITHOUT ROWID;
-- Retention, by resolution and age.
CREATE INDEX monitor_latency_by_age ON monitor_latency (resolution, bucket_ms);
