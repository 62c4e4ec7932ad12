import fc from 'fast-check';
import { alertIdOf, parseAckBody } from './alert-ack.js';
import { errorOf } from '../../test/error-of.js';

describe('alertIdOf', () => {
  it('takes an alert id in any case, as the lower-case UUID', () => {
    expect(alertIdOf('0B6F3C1E-8A4D-4F5E-9C2B-7D1E6A5F4B3C')).toBe(
      '0b6f3c1e-8a4d-4f5e-9c2b-7d1e6a5f4b3c',
    );
  });

  it.each(['42', 'not-an-id', '../alerts', '0b6f3c1e-8a4d-4f5e-9c2b-7d1e6a5f4b3', ''])(
    'answers ALERT.NOT_FOUND for %j, pointing at GET /api/alerts',
    (raw) => {
      const err = errorOf(() => alertIdOf(raw));
      expect(err.code).toBe('ALERT.NOT_FOUND');
      expect(err.httpStatus).toBe(404);
      expect(err.message).toContain('GET /api/alerts');
    },
  );

  it('takes every UUID and nothing that is not one (property)', () => {
    fc.assert(fc.property(fc.uuid(), (id) => alertIdOf(id) === id.toLowerCase()));
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(s)),
        (raw) => errorOf(() => alertIdOf(raw)).code === 'ALERT.NOT_FOUND',
      ),
    );
  });
});

describe('parseAckBody', () => {
  it('takes no body, {}, or a note (trimmed)', () => {
    expect(parseAckBody(undefined)).toEqual({});
    expect(parseAckBody({})).toEqual({});
    expect(parseAckBody({ note: '  false positive: load test  ' })).toEqual({
      note: 'false positive: load test',
    });
    expect(parseAckBody({ note: 'x'.repeat(500) })).toEqual({ note: 'x'.repeat(500) });
  });

  it.each<[string, unknown, RegExp]>([
    ['a note over 500 characters', { note: 'x'.repeat(501) }, /at most 500 characters/],
    ['an empty note', { note: '' }, /1-500 characters; leave note out for none/],
    ['a blank note', { note: '   ' }, /1-500 characters/],
    ['a note with U+0000', { note: 'a\u0000b' }, /U\+0000/],
    ['a note that is not text', { note: 5 }, /note/],
    ['a null note', { note: null }, /note/],
    ['another field', { note: 'ok', by: 'mallory' }, /by/],
    ['a JSON null body', null, /JSON object/],
    ['an array body', ['note'], /JSON object/],
  ])('refuses %s with REQUEST.INVALID_BODY, saying what to send', (_what, body, message) => {
    const err = errorOf(() => parseAckBody(body));
    expect(err.code).toBe('REQUEST.INVALID_BODY');
    expect(err.httpStatus).toBe(400);
    expect(err.message).toMatch(message);
  });
});
