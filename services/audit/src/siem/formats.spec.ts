import fc from 'fast-check';
import { alertSchema, type Alert } from '@sg/contracts';
import { ALERT_NAMES, toCef, toOcsf, toSplunkHec, toSyslogCef, toWebhookJson } from './formats.js';

const ALERT: Alert = alertSchema.parse({
  alert_id: '0b6f3c1e-8a4d-4f5e-9c2b-7d1e6a5f4b3c',
  type: 'denial_spike',
  severity: 'high',
  project: 'acme',
  key: 'acme',
  summary: '12 denials in 120 s (threshold 10)',
  count: 12,
  threshold: 10,
  window_s: 120,
  agent_id: 'gpt-4o',
  session_id: 'sess-1',
  tool: 'db.write_sensitive',
  trace_ids: ['trace-a', 'trace-b'],
  raised_at: '2026-03-01T10:00:00.250Z',
});

/** A CEF reader that does not trust the writer: a `\` escapes the next character, nothing else. */
function parseCef(line: string): {
  header: string[];
  extension: Map<string, string>;
  keys: string[];
} {
  const header: string[] = [];
  let field = '';
  let i = 0;
  for (; i < line.length && header.length < 7; i++) {
    const c = line[i]!;
    if (c === '\\') field += line[++i] ?? '';
    else if (c === '|') {
      header.push(field);
      field = '';
    } else field += c;
  }
  if (header.length !== 7) throw new Error(`only ${header.length} header fields`);
  const ext = line.slice(i);
  // Every unescaped `=` ends a key: the run of key characters before it, after a space.
  const equals: number[] = [];
  for (let j = 0; j < ext.length; j++) {
    if (ext[j] === '\\') j++;
    else if (ext[j] === '=') equals.push(j);
  }
  const starts = equals.map((e) => {
    let s = e;
    while (s > 0 && /[A-Za-z0-9_.]/.test(ext[s - 1]!)) s--;
    if (s === e || (s > 0 && ext[s - 1] !== ' ')) throw new Error(`a stray = at ${e}`);
    return s;
  });
  const keys: string[] = [];
  const extension = new Map<string, string>();
  equals.forEach((e, k) => {
    const key = ext.slice(starts[k], e);
    const end = k + 1 < equals.length ? starts[k + 1]! - 1 : ext.length;
    const raw = ext.slice(e + 1, end);
    keys.push(key);
    extension.set(
      key,
      raw.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c)),
    );
  });
  return { header: header.map((h) => h), extension, keys };
}

describe('SIEM formats', () => {
  it("keeps seed 002's {alert, count} in the json webhook body, beside every alert field", () => {
    const body = toWebhookJson(ALERT);
    expect(body).toMatchObject({ alert: 'denial spike', count: 12 });
    expect(body).toMatchObject(ALERT);
    expect(Object.keys(ALERT_NAMES).sort()).toEqual([...alertSchema.shape.type.options].sort());
  });

  it('shapes a Splunk HEC event', () => {
    expect(toSplunkHec(ALERT, 'audit-1')).toEqual({
      time: 1772359200.25,
      host: 'audit-1',
      source: 'securegateway',
      sourcetype: 'securegateway:alert',
      event: ALERT,
    });
  });

  it('shapes an OCSF 1.1 Detection Finding', () => {
    const f = toOcsf(ALERT);
    expect(f).toMatchObject({
      class_uid: 2004,
      category_uid: 2,
      activity_id: 1,
      type_uid: 200401,
      severity_id: 4,
      severity: 'High',
      time: Date.parse(ALERT.raised_at),
      start_time: Date.parse(ALERT.raised_at) - 120_000,
      message: ALERT.summary,
      metadata: {
        version: '1.1.0',
        uid: ALERT.alert_id,
        product: { name: 'SecureGateway', vendor_name: 'SecureGateway' },
      },
      finding_info: {
        uid: ALERT.alert_id,
        title: 'denial spike',
        desc: ALERT.summary,
        types: ['denial_spike'],
      },
      actor: { app_name: 'gpt-4o', session: { uid: 'sess-1' } },
      unmapped: {
        project: 'acme',
        key: 'acme',
        tool: 'db.write_sensitive',
        trace_ids: ['trace-a', 'trace-b'],
      },
    });
    expect(f.type_uid).toBe(f.class_uid * 100 + f.activity_id);
    expect(f.observables.map((o) => [o.name, o.value])).toEqual([
      ['unmapped.project', 'acme'],
      ['actor.app_name', 'gpt-4o'],
      ['actor.session.uid', 'sess-1'],
      ['unmapped.tool', 'db.write_sensitive'],
    ]);
    const severities = (['low', 'medium', 'high', 'critical'] as const).map(
      (severity) => toOcsf({ ...ALERT, severity }).severity_id,
    );
    expect(severities).toEqual([2, 3, 4, 5]);
  });

  it('leaves absent agent, session, tool and window out of OCSF rather than inventing them', () => {
    const f = toOcsf({
      ...ALERT,
      type: 'new_agent',
      agent_id: null,
      session_id: null,
      tool: null,
      window_s: null,
      threshold: null,
    });
    expect(f).not.toHaveProperty('actor');
    expect(f).not.toHaveProperty('start_time');
    expect(f.observables.map((o) => o.name)).toEqual(['unmapped.project']);
    expect(f.resources).toEqual([{ type: 'project', uid: 'acme', name: 'acme' }]);
  });

  it('writes a CEF record with the alert in its header and extensions', () => {
    const { header, extension, keys } = parseCef(toCef(ALERT));
    expect(header).toEqual([
      'CEF:0',
      'SecureGateway',
      'SecureGateway',
      '1.0',
      'denial_spike',
      ALERT.summary,
      '8',
    ]);
    expect(Object.fromEntries(extension)).toEqual({
      rt: String(Date.parse(ALERT.raised_at)),
      externalId: ALERT.alert_id,
      cat: 'anomaly',
      cnt: '12',
      cs1Label: 'project',
      cs1: 'acme',
      cs2Label: 'key',
      cs2: 'acme',
      suser: 'gpt-4o',
      cs3Label: 'session',
      cs3: 'sess-1',
      cs4Label: 'tool',
      cs4: 'db.write_sensitive',
      cs5Label: 'trace_id',
      cs5: 'trace-b',
      cn1Label: 'threshold',
      cn1: '10',
      cn2Label: 'window_s',
      cn2: '120',
      msg: ALERT.summary,
    });
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('wraps CEF in one RFC 5424 line: local0, severity from the alert', () => {
    const line = toSyslogCef({ ...ALERT, severity: 'critical' }, 'audit host\n1');
    expect(line).toMatch(
      /^<130>1 2026-03-01T10:00:00\.250Z audithost1 securegateway - - - CEF:0\|SecureGateway\|/,
    );
    expect(toSyslogCef({ ...ALERT, severity: 'low' }, '')).toMatch(
      /^<133>1 \S+ - securegateway - - - CEF:0\|/,
    );
  });

  it('escapes a summary, key or label so that it cannot forge CEF header fields or extensions', () => {
    const nasty = fc.string({
      unit: fc.oneof(
        fc.constantFrom(
          '|',
          '=',
          '\\',
          '\n',
          '\r',
          ' ',
          '\t',
          '\u0000',
          '\u2028',
          '\u0085',
          ' cs1=',
          ' act=x',
          '\\=',
          '\\|',
          'é',
          '😀',
        ),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
      ),
      maxLength: 40,
    });
    // What a reader gets back: CR and LF survive escaped; other controls became spaces.
    const seen = (s: string) =>
      // eslint-disable-next-line no-control-regex
      s.replace(/[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/g, ' ');
    fc.assert(
      fc.property(
        nasty,
        nasty,
        nasty,
        nasty,
        nasty,
        nasty,
        (summary, key, project, agent, session, tool) => {
          const alert: Alert = {
            ...ALERT,
            summary,
            key,
            project,
            agent_id: agent,
            session_id: session,
            tool,
            trace_ids: [tool],
          };
          const line = toSyslogCef(alert, 'h');
          expect(line).not.toMatch(/[\r\n]/);
          const { header, extension, keys } = parseCef(line.slice(line.indexOf('CEF:')));
          expect(header.slice(0, 5)).toEqual([
            'CEF:0',
            'SecureGateway',
            'SecureGateway',
            '1.0',
            'denial_spike',
          ]);
          expect(header[5]).toBe(seen(summary).replace(/\r\n|[\r\n]/g, ' '));
          expect(header[6]).toBe('8');
          expect(keys).toEqual([
            'rt',
            'externalId',
            'cat',
            'cnt',
            'cs1Label',
            'cs1',
            'cs2Label',
            'cs2',
            'suser',
            'cs3Label',
            'cs3',
            'cs4Label',
            'cs4',
            'cs5Label',
            'cs5',
            'cn1Label',
            'cn1',
            'cn2Label',
            'cn2',
            'msg',
          ]);
          expect(extension.get('cs1')).toBe(seen(project));
          expect(extension.get('cs2')).toBe(seen(key));
          expect(extension.get('suser')).toBe(seen(agent));
          expect(extension.get('cs3')).toBe(seen(session));
          expect(extension.get('cs4')).toBe(seen(tool));
          expect(extension.get('msg')).toBe(seen(summary));
          expect(extension.get('cs1Label')).toBe('project');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('leaves out the extensions of absent fields, with their labels', () => {
    const { keys } = parseCef(
      toCef({
        ...ALERT,
        agent_id: null,
        session_id: null,
        tool: null,
        threshold: null,
        window_s: null,
        trace_ids: [],
      }),
    );
    expect(keys).toEqual([
      'rt',
      'externalId',
      'cat',
      'cnt',
      'cs1Label',
      'cs1',
      'cs2Label',
      'cs2',
      'msg',
    ]);
  });

  it('cuts an overlong value at 1023 characters without splitting one in two', () => {
    const { extension } = parseCef(toCef({ ...ALERT, project: '😀'.repeat(2000) }));
    expect(Array.from(extension.get('cs1')!)).toEqual(Array(1023).fill('😀'));
  });
});
