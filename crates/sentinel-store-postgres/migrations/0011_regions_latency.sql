-- Checks from several regions, and latency histograms for response-time percentiles. Column
-- names and meanings match the SQLite backend.
--
-- A monitor with regions is checked from each of them every slot (one job per region); a slot
-- fails when region_quorum of them (0: a majority) fail it. regions_json: a JSON array of labels.
ALTER TABLE monitors ADD COLUMN regions_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE monitors ADD COLUMN region_quorum BIGINT NOT NULL DEFAULT 0;

-- Jobs are keyed by region too ('': any checker may run it).
ALTER TABLE check_jobs ADD COLUMN region TEXT NOT NULL DEFAULT '';
ALTER TABLE check_jobs DROP CONSTRAINT check_jobs_pkey, ADD PRIMARY KEY (monitor_id, slot_ms, region);

-- Successful checks per latency bin (sentinel_store::latency) of each rollup bucket: the
-- percentiles of any span of buckets come from their sums. Kept as long as monitor_rollups.
CREATE TABLE monitor_latency (
    monitor_id BIGINT NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    resolution TEXT NOT NULL,
    bucket_ms BIGINT NOT NULL,
    bin BIGINT NOT NULL,
    checks BIGINT NOT NULL,
    PRIMARY KEY (monitor_id, resolution, bucket_ms, bin)
);
-- Retention, by resolution and age.
CREATE INDEX monitor_latency_by_age ON monitor_latency (resolution, bucket_ms);
