import { GatewayError } from '@sg/contracts';
import { errorAnswer, fromFastifyError } from './error-answer.js';

describe('fromFastifyError', () => {
  it.each([
    [
      { code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400, message: 'x' },
      'REQUEST.INVALID_JSON',
    ],
    [{ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413, message: 'x' }, 'REQUEST.TOO_LARGE'],
    [{ statusCode: 413, message: 'x' }, 'REQUEST.TOO_LARGE'],
    [
      { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415, message: 'x' },
      'REQUEST.UNSUPPORTED_MEDIA_TYPE',
    ],
    [{ statusCode: 404, message: 'x' }, 'REQUEST.NOT_FOUND'],
    [{ message: 'TypeError: cannot read x of undefined' }, 'GATEWAY.INTERNAL'],
  ])('maps %o to %s', (err, code) => {
    expect(fromFastifyError(err).code).toBe(code);
  });
});

describe('errorAnswer', () => {
  it('never sends the message of an unexpected error', () => {
    const answer = errorAnswer(new Error('db password is hunter2'), 'trace-1');
    expect(answer.status).toBe(500);
    expect(JSON.stringify(answer.body)).not.toContain('hunter2');
  });

  it('keeps code and message of a GatewayError', () => {
    const answer = errorAnswer(new GatewayError('AUTH.INVALID_KEY', 'bad key'), 'trace-1');
    expect(answer).toMatchObject({
      status: 401,
      body: { error: { code: 'AUTH.INVALID_KEY', message: 'bad key' }, trace_id: 'trace-1' },
    });
  });
});
