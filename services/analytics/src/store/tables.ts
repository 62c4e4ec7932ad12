/** The aggregate tables (migrations/*.sql): what ANALYZE refreshes. */
export const AGGREGATE_TABLES = [
  'analytics_calls_hourly',
  'analytics_calls_daily',
  'analytics_latency_hourly',
  'analytics_latency_daily',
  'analytics_denials',
  'analytics_grants',
  'analytics_limits',
  'analytics_risk',
  'analytics_sessions',
  'analytics_shadow',
] as const;
