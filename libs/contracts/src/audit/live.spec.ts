import {
  AUDIT_STORED_SUBJECT,
  auditStoredSchema,
  auditStreamFilterSchema,
  EVENTS,
  EVENTS_WILDCARD,
  REQUESTS,
} from '../index.js';

/** Whether a NATS subject matches a subscription's pattern (`*` one token, `>` the rest). */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

describe('the live audit feed subject', () => {
  it('stays out of the event stream, so JetStream never stores it', () => {
    expect(matches(EVENTS_WILDCARD, 'gw.evt.toolcall.completed.v1')).toBe(true);
    expect(matches(EVENTS_WILDCARD, AUDIT_STORED_SUBJECT)).toBe(false);
    expect(Object.keys(EVENTS)).not.toContain(AUDIT_STORED_SUBJECT);
    expect(Object.keys(REQUESTS)).not.toContain(AUDIT_STORED_SUBJECT);
    expect(AUDIT_STORED_SUBJECT).toMatch(/^gw\.audit\.[a-z_]+\.v\d+$/);
  });

  it('carries an AuditRecord, and filters by what one record can be matched on', () => {
    expect(auditStoredSchema.safeParse({ audit_id: 'x' }).success).toBe(false);
    expect(Object.keys(auditStreamFilterSchema.shape).sort()).toEqual([
      'agent_id',
      'project',
      'status',
      'tool',
    ]);
    expect(auditStreamFilterSchema.safeParse({ status: 'ok' }).success).toBe(false);
    expect(auditStreamFilterSchema.safeParse({ project: '../etc' }).success).toBe(false);
    expect(auditStreamFilterSchema.parse({ status: 'denied', tool: 'a.b' })).toEqual({
      status: 'denied',
      tool: 'a.b',
    });
  });
});
