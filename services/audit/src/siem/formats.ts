import type { Alert, AlertSeverity, AlertType } from '@sg/contracts';

/**
 * What an alert looks like to a SIEM, one pure function per format (docs/siem.md shows each).
 * `host` is passed in, not read here, so the same alert always gives the same bytes.
 */

export const PRODUCT = 'SecureGateway';
export const PRODUCT_VERSION = '1.0';

/** Seed 002 posted `{alert: "denial spike", count}`; these are the names its consumers know. */
export const ALERT_NAMES: Record<AlertType, string> = {
  denial_spike: 'denial spike',
  rate_limit_storm: 'rate limit storm',
  high_risk_session: 'high risk session',
  new_tool: 'new tool',
  new_agent: 'new agent',
  chain_broken: 'audit chain broken',
  tool_drift: 'tool drift',
  forged_peer_calls: 'forged peer calls',
  policy_tampered: 'policy version tampered',
};

/** The `json` webhook body: the alert as published, plus seed 002's `alert` name (`count` is already a field). */
export function toWebhookJson(alert: Alert): Record<string, unknown> {
  return { alert: ALERT_NAMES[alert.type], ...alert };
}

/** A Splunk HTTP Event Collector event (POST .../services/collector/event). */
export function toSplunkHec(alert: Alert, host: string) {
  return {
    time: Date.parse(alert.raised_at) / 1000,
    host,
    source: 'securegateway',
    sourcetype: 'securegateway:alert',
    event: alert,
  };
}

const OCSF_SEVERITY: Record<AlertSeverity, { id: number; name: string }> = {
  low: { id: 2, name: 'Low' },
  medium: { id: 3, name: 'Medium' },
  high: { id: 4, name: 'High' },
  critical: { id: 5, name: 'Critical' },
};

/** OCSF analytic types: 1 Rule, 2 Behavioral, 3 Statistical. */
const OCSF_ANALYTIC: Record<AlertType, { type_id: number; type: string }> = {
  denial_spike: { type_id: 3, type: 'Statistical' },
  rate_limit_storm: { type_id: 3, type: 'Statistical' },
  high_risk_session: { type_id: 1, type: 'Rule' },
  new_tool: { type_id: 2, type: 'Behavioral' },
  new_agent: { type_id: 2, type: 'Behavioral' },
  chain_broken: { type_id: 1, type: 'Rule' },
  tool_drift: { type_id: 1, type: 'Rule' },
  forged_peer_calls: { type_id: 3, type: 'Statistical' },
  policy_tampered: { type_id: 1, type: 'Rule' },
};

/** An OCSF 1.1.0 Detection Finding (class 2004, category 2 Findings, activity 1 Create). */
export function toOcsf(alert: Alert) {
  const time = Date.parse(alert.raised_at);
  const severity = OCSF_SEVERITY[alert.severity];
  const observables: { name: string; type_id: number; type: string; value: string }[] = [];
  const observe = (name: string, value: string | null) => {
    if (value !== null) observables.push({ name, type_id: 99, type: 'Other', value });
  };
  observe('unmapped.project', alert.project);
  observe('actor.app_name', alert.agent_id);
  observe('actor.session.uid', alert.session_id);
  observe('unmapped.tool', alert.tool);

  const actor: Record<string, unknown> = {};
  if (alert.agent_id !== null) actor.app_name = alert.agent_id;
  if (alert.session_id !== null) actor.session = { uid: alert.session_id };
  const resources = [{ type: 'project', uid: alert.project, name: alert.project }];
  if (alert.tool !== null) resources.push({ type: 'tool', uid: alert.tool, name: alert.tool });

  return {
    class_uid: 2004,
    class_name: 'Detection Finding',
    category_uid: 2,
    category_name: 'Findings',
    activity_id: 1,
    activity_name: 'Create',
    type_uid: 200401,
    type_name: 'Detection Finding: Create',
    severity_id: severity.id,
    severity: severity.name,
    status_id: 1,
    status: 'New',
    time,
    timezone_offset: 0,
    ...(alert.window_s !== null
      ? { start_time: time - alert.window_s * 1000, end_time: time }
      : {}),
    count: alert.count,
    message: alert.summary,
    metadata: {
      version: '1.1.0',
      uid: alert.alert_id,
      product: { name: PRODUCT, vendor_name: PRODUCT, version: PRODUCT_VERSION },
    },
    finding_info: {
      uid: alert.alert_id,
      title: ALERT_NAMES[alert.type],
      desc: alert.summary,
      types: [alert.type],
      created_time: time,
      analytic: { name: alert.type, ...OCSF_ANALYTIC[alert.type] },
    },
    ...(Object.keys(actor).length ? { actor } : {}),
    resources,
    observables,
    unmapped: {
      project: alert.project,
      key: alert.key,
      count: alert.count,
      threshold: alert.threshold,
      window_s: alert.window_s,
      agent_id: alert.agent_id,
      session_id: alert.session_id,
      tool: alert.tool,
      trace_ids: alert.trace_ids,
    },
  };
}

// ---- CEF over syslog ----

const CEF_SEVERITY: Record<AlertSeverity, number> = { low: 3, medium: 5, high: 8, critical: 10 };
/** RFC 5424 severities: notice, warning, error, critical. */
const SYSLOG_SEVERITY: Record<AlertSeverity, number> = { low: 5, medium: 4, high: 3, critical: 2 };
/** local0: the facility set aside for local use, so a syslog daemon can route our lines by it. */
export const SYSLOG_FACILITY = 16;

/**
 * Characters a syslog or CEF parser may take for the end of a line or field, other than CR/LF
 * (which CEF escapes): the other C0 and C1 controls, DEL, and the Unicode line separators.
 */
// eslint-disable-next-line no-control-regex
const OTHER_CONTROLS = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/g;

/** At most `max` code points, so that no surrogate pair is cut in half. */
function clip(value: string, max: number): string {
  if (value.length <= max) return value;
  return Array.from(value).slice(0, max).join('');
}

/** A CEF header field: `\` and `|` escaped; a header cannot span lines, so line breaks become spaces. */
export function cefHeader(value: string, max = 1023): string {
  return clip(value, max)
    .replace(OTHER_CONTROLS, ' ')
    .replace(/\r\n|[\r\n]/g, ' ')
    .replace(/[\\|]/g, (c) => `\\${c}`);
}

/** A CEF extension value: `\` and `=` escaped, line breaks written as `\n` and `\r`. */
export function cefValue(value: string, max = 1023): string {
  return clip(value, max)
    .replace(OTHER_CONTROLS, ' ')
    .replace(/[\\=\r\n]/g, (c) => (c === '\r' ? '\\r' : c === '\n' ? '\\n' : `\\${c}`));
}

/** The CEF:0 record of an alert (no syslog header). Absent (null) fields are left out. */
export function toCef(alert: Alert): string {
  const ext: [string, string | number | null][] = [
    ['rt', Date.parse(alert.raised_at)],
    ['externalId', alert.alert_id],
    ['cat', 'anomaly'],
    ['cnt', alert.count],
    ['cs1Label', 'project'],
    ['cs1', alert.project],
    ['cs2Label', 'key'],
    ['cs2', alert.key],
    ['suser', alert.agent_id],
    ['cs3Label', 'session'],
    ['cs3', alert.session_id],
    ['cs4Label', 'tool'],
    ['cs4', alert.tool],
    ['cs5Label', 'trace_id'],
    ['cs5', alert.trace_ids.at(-1) ?? null],
    ['cn1Label', 'threshold'],
    ['cn1', alert.threshold],
    ['cn2Label', 'window_s'],
    ['cn2', alert.window_s],
    ['msg', alert.summary],
  ];
  // A label without its value says nothing, so it goes with it.
  const present = ext.filter(([key, value], i) => {
    if (key.endsWith('Label')) return ext[i + 1]?.[1] !== null;
    return value !== null;
  });
  const extension = present.map(([key, value]) => `${key}=${cefValue(String(value))}`).join(' ');
  const header = [
    'CEF:0',
    PRODUCT,
    PRODUCT,
    PRODUCT_VERSION,
    cefHeader(alert.type),
    cefHeader(alert.summary, 512),
    String(CEF_SEVERITY[alert.severity]),
  ];
  return `${header.join('|')}|${extension}`;
}

/** An RFC 5424 HOSTNAME: printable ASCII without spaces, at most 255 characters, `-` if none. */
export function syslogHost(host: string): string {
  const clean = host.replace(/[^\x21-\x7e]/g, '').slice(0, 255);
  return clean || '-';
}

/** One RFC 5424 syslog message carrying the CEF record: `<PRI>1 TIMESTAMP HOST securegateway - - - CEF:0|...`. */
export function toSyslogCef(alert: Alert, host: string): string {
  const pri = SYSLOG_FACILITY * 8 + SYSLOG_SEVERITY[alert.severity];
  const timestamp = new Date(alert.raised_at).toISOString();
  return `<${pri}>1 ${timestamp} ${syslogHost(host)} securegateway - - - ${toCef(alert)}`;
}
