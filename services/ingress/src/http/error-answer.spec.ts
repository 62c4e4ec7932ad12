import { GatewayError } from '@sg/contracts';
import { pino } from 'pino';
import { OAuthTokens } from '../auth/oauth.js';
import type { IngressEnv } from '../config/env.js';
import { ErrorAnswers, fromFastifyError } from './error-answer.js';

/** ErrorAnswers with a logger whose lines are kept. */
function withLog() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  return { errors: new ErrorAnswers(logger, new OAuthTokens({} as IngressEnv)), lines };
}

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
  ])('maps %o to %s', (err, code) => {
    expect(fromFastifyError(err)?.code).toBe(code);
  });

  it('leaves an error it does not know to the caller', () => {
    expect(fromFastifyError(new TypeError('cannot read x of undefined'))).toBeNull();
  });
});

describe('errorAnswer', () => {
  it('never sends the message of an unexpected error', () => {
    const { errors } = withLog();
    const answer = errors.answer(new Error('db password is hunter2'), 'trace-1');
    expect(answer.status).toBe(500);
    expect(JSON.stringify(answer.body)).not.toContain('hunter2');
  });

  it('logs an unexpected error with its trace id, class and stack', () => {
    const { errors, lines } = withLog();
    errors.answer(new RangeError('Maximum call stack size exceeded'), 'trace-9');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 50,
      trace_id: 'trace-9',
      code: 'GATEWAY.INTERNAL',
      err_class: 'RangeError',
      err_message: 'Maximum call stack size exceeded',
    });
    expect(lines[0]?.stack).toEqual(expect.stringContaining('RangeError: Maximum call stack'));
  });

  it('logs a 5xx GatewayError, and not a 4xx one', () => {
    const { errors, lines } = withLog();
    errors.answer(new GatewayError('AUTH.INVALID_KEY', 'bad key'), 'trace-1');
    expect(lines).toHaveLength(0);
    errors.answer(new GatewayError('GATEWAY.SERVICE_TIMEOUT', 'the executor did not answer'), 't2');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        trace_id: 't2',
        code: 'GATEWAY.SERVICE_TIMEOUT',
        err_class: 'GatewayError',
      }),
    ]);
  });

  it('keeps code and message of a GatewayError', () => {
    const answer = withLog().errors.answer(
      new GatewayError('AUTH.INVALID_KEY', 'bad key'),
      'trace-1',
    );
    expect(answer).toMatchObject({
      status: 401,
      body: { error: { code: 'AUTH.INVALID_KEY', message: 'bad key' }, trace_id: 'trace-1' },
    });
  });
});
