import { callableToolNameSchema, remoteToolOf } from '../common.js';

it("splits a peer's tool name at its first '/', nested names included", () => {
  expect(remoteToolOf('gw-b/calendar.list_events')).toEqual({
    peer: 'gw-b',
    tool: 'calendar.list_events',
  });
  expect(remoteToolOf('gw-b/gw-c/db.read')).toEqual({ peer: 'gw-b', tool: 'gw-c/db.read' });
  expect(remoteToolOf('calendar.list_events')).toBeNull();
});

it('refuses names that are not tools: URLs, upper-case peers, empty parts', () => {
  for (const name of [
    'http://evil.example.com/x',
    'GW-B/calendar.list',
    '/calendar.list',
    'gw-b/',
    'gw-b//x',
    'gw-b/x/',
    'a'.repeat(64) + '/x',
  ]) {
    expect([name, remoteToolOf(name)]).toEqual([name, null]);
    expect([name, callableToolNameSchema.safeParse(name).success]).toEqual([name, false]);
  }
  expect(callableToolNameSchema.safeParse('gw-b/calendar.list_events').success).toBe(true);
  expect(callableToolNameSchema.safeParse('calendar.list_events').success).toBe(true);
});
