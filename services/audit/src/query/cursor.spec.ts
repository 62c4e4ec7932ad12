import { GatewayError } from '@sg/contracts';
import { decodeCursor, encodeCursor } from './cursor.js';

const position = { at: '2026-05-01T12:00:00.123456Z', id: '7c2a3f7e-1d2b-4c3d-8e4f-5a6b7c8d9e0f' };

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as GatewayError).code;
  }
  return 'no error';
};

describe('keyset cursors', () => {
  it('give back the position they were made from, microseconds included', () => {
    const cursor = encodeCursor('records', position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor('records', cursor)).toEqual(position);
  });

  it.each([
    ['not base64url', 'abc$%^'],
    ['base64url of no JSON', Buffer.from('hello').toString('base64url')],
    ['JSON of another shape', Buffer.from(JSON.stringify({ offset: 100 })).toString('base64url')],
    [
      'a time without microseconds',
      Buffer.from(
        JSON.stringify({ k: 'records', at: '2026-05-01T12:00:00Z', id: position.id }),
      ).toString('base64url'),
    ],
    [
      'an id that is no uuid',
      Buffer.from(JSON.stringify({ k: 'records', at: position.at, id: "x' OR 1=1" })).toString(
        'base64url',
      ),
    ],
    [
      'extra fields',
      Buffer.from(JSON.stringify({ k: 'records', ...position, x: 1 })).toString('base64url'),
    ],
    ['a cursor of the alerts list', encodeCursor('alerts', position)],
  ])('refuse %s with AUDIT.INVALID_CURSOR', (_what, cursor) => {
    expect(codeOf(() => decodeCursor('records', cursor))).toBe('AUDIT.INVALID_CURSOR');
  });

  it('tell the caller what to pass instead', () => {
    expect(() => decodeCursor('alerts', 'nope!')).toThrow(
      /pass next_cursor of the previous page unchanged/,
    );
  });
});
