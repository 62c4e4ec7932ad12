// The example plugins of examples/plugins (docs/plugins.md), called as the worker calls them.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type OnToolCall = (ctx: object, tool: string, payload: object, now?: Date) => unknown;
const example = async (name: string) =>
  (
    (await import(
      pathToFileURL(resolve(import.meta.dirname, '../../../../examples/plugins', name)).href
    )) as { onToolCall: OnToolCall }
  ).onToolCall;
const businessHours = await example('business-hours.mjs');
const logger = await example('logger.mjs');

const ctx = { trace_id: 't-1', project: 'default', agent_id: 'gpt-4o' };

describe('business-hours', () => {
  it('denies a write tool outside Monday to Friday 09:00-18:00 UTC, and says why', () => {
    const saturday = new Date('2026-12-05T10:00:00Z');
    expect(businessHours(ctx, 'db.write_sensitive', {}, saturday)).toEqual({
      deny: 'db.write_sensitive writes; writes are allowed Monday to Friday, 09:00-18:00 UTC',
    });
    const friday = new Date('2026-12-04T20:30:00Z');
    expect(businessHours(ctx, 'calendar.create_event', {}, friday)).toHaveProperty('deny');
  });

  it('lets writes pass in business hours, and reads at any time, annotated with the local time', () => {
    const monday = new Date('2026-12-07T09:15:00Z');
    expect(businessHours(ctx, 'db.write_sensitive', {}, monday)).toEqual({
      annotate: { local_time: 'Mon 09:15 UTC', business_hours: true },
    });
    const sunday = new Date('2026-12-06T23:00:00Z');
    expect(businessHours(ctx, 'calendar.list_events', {}, sunday)).toEqual({
      annotate: { local_time: 'Sun 23:00 UTC', business_hours: false },
    });
  });
});

it('logger: writes one JSON line without argument values, and lets the call pass', () => {
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: unknown) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    expect(logger(ctx, 'calendar.list_events', { secret_note: 'do not log me' })).toBeNull();
  } finally {
    process.stdout.write = write;
  }
  const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
  expect(entry).toMatchObject({
    plugin: 'logger',
    tool: 'calendar.list_events',
    argument_names: ['secret_note'],
  });
  expect(lines[0]).not.toContain('do not log me');
});
