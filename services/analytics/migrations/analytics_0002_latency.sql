-- The duration (duration_ms) of every gw.evt.toolcall.completed.v1, as a histogram per project,
-- outcome and hour (analytics_latency_hourly) or day (analytics_latency_daily), counted with the
-- other aggregates (docs/analytics.md#latency). Buckets of any rows merge by adding their calls:
-- the summary's percentiles are read from the merged buckets.
--
-- le_ms is the upper bound of a fixed, log-spaced bucket: 0.1 ms × 1.05^i rounded to three
-- significant digits, i = 0 … 357 (0.1, 0.105, 0.11, 0.116, …, 3,670,000 ms), holding the
-- durations above the bound before it, up to and including its own (the first: 0 to 0.1 ms; the
-- last also holds anything longer). The bounds are services/analytics/src/latency/histogram.ts's;
-- other bounds would need other tables.
--
-- Not by tool: that would multiply the rows by the tools called (at bench/analytics.mjs's load,
-- nearly one hourly row per call), and the summary does not ask for it.
CREATE TABLE analytics_latency_hourly (
  project text             NOT NULL,
  bucket  timestamptz      NOT NULL,
  outcome text             NOT NULL,
  le_ms   double precision NOT NULL,
  calls   bigint           NOT NULL,
  PRIMARY KEY (project, bucket, outcome, le_ms)
);
CREATE TABLE analytics_latency_daily (LIKE analytics_latency_hourly INCLUDING ALL);
