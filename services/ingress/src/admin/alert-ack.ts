import { ALERT_NOTE_MAX, alertNoteSchema, GatewayError } from '@sg/contracts';
import { parseBody } from '@sg/runtime';
import { z } from 'zod';

export const ackBodySchema = z.strictObject({ note: alertNoteSchema.optional() });
const ACK_SHAPE = `send {"note": "<why, 1-${ALERT_NOTE_MAX} characters>"}, {} or no body`;

/** An alert id is a UUID from GET /api/alerts; anything else names no alert and is never looked up. */
export function alertIdOf(raw: string): string {
  if (!z.uuid().safeParse(raw).success)
    throw new GatewayError(
      'ALERT.NOT_FOUND',
      `no alert ${JSON.stringify(raw.slice(0, 64))}; use an alert_id from GET /api/alerts`,
    );
  return raw.toLowerCase();
}

/**
 * The body of POST /api/alerts/:id/ack: an optional note. No body at all (and no Content-Type)
 * is no note; anything but a JSON object, or another field, is refused (REQUEST.INVALID_BODY).
 */
export function parseAckBody(body: unknown): { note?: string } {
  return parseBody(ackBodySchema, body === undefined ? {} : body, ACK_SHAPE);
}
