import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, type Socket } from 'node:net';
import type { Alert } from '@sg/contracts';
import { request } from 'undici';
import type { AuditEnv, SiemSink } from '../config/env.js';
import { toOcsf, toSplunkHec, toSyslogCef, toWebhookJson } from './formats.js';

/**
 * The outcome of one send. `sinkDown` says the failure is the SIEM's, not this alert's (it is
 * unreachable, overloaded, refuses our token...), so the alerts queued behind it wait too.
 * `reason` is short and never holds SIEM_TOKEN: it goes to siem_outbox.last_error, logs and health.
 */
export type Delivery =
  { delivered: true } | { delivered: false; reason: string; sinkDown: boolean };

export interface SinkClient {
  readonly name: SiemSink;
  send(alert: Alert): Promise<Delivery>;
  close(): Promise<void>;
}

const DELIVERED: Delivery = { delivered: true };
const down = (reason: string): Delivery => ({ delivered: false, reason, sinkDown: true });

/** Statuses that reject this one payload; any other non-2xx means the SIEM cannot take alerts now. */
const PAYLOAD_REJECTED = new Set([400, 413, 422]);
const REASON_BODY_CHARS = 200;

/** A short reason for a thrown error: its code (ECONNREFUSED), never its message, which may quote the URL. */
function errorReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: unknown; cause?: { code?: unknown } };
  const code =
    typeof e.code === 'string'
      ? e.code
      : typeof e.cause?.code === 'string'
        ? e.cause.code
        : undefined;
  if (
    e.name === 'TimeoutError' ||
    e.name === 'AbortError' ||
    code === 'ETIMEDOUT' ||
    (code?.startsWith('UND_ERR_') && code.endsWith('TIMEOUT'))
  ) {
    return `no answer within ${timeoutMs} ms`;
  }
  return code && /^[A-Z0-9_]{2,40}$/.test(code) ? code : 'connection failed';
}

/** The start of an error answer, one line, with the token cut out wherever the receiver echoed it. */
export function reasonSnippet(text: string, token: string | undefined): string {
  let clean = text;
  if (token) {
    for (const form of new Set([
      token,
      encodeURIComponent(token),
      Buffer.from(token).toString('base64'),
    ]))
      clean = clean.split(form).join('[redacted]');
  }
  clean = clean.replace(/\s+/g, ' ').trim();
  return clean.length > REASON_BODY_CHARS ? `${clean.slice(0, REASON_BODY_CHARS)}…` : clean;
}

async function readSome(body: AsyncIterable<Buffer>, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= maxBytes) break;
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}

/** POSTs each alert to SIEM_URL in SIEM_FORMAT. A 2xx answer within SIEM_TIMEOUT_MS is delivery. */
export class WebhookSink implements SinkClient {
  readonly name = 'webhook' as const;

  constructor(
    private readonly url: string,
    private readonly format: AuditEnv['SIEM_FORMAT'],
    private readonly token: string | undefined,
    private readonly timeoutMs: number,
    private readonly host: string,
  ) {}

  async send(alert: Alert): Promise<Delivery> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    let body: unknown;
    if (this.format === 'splunk_hec') {
      // Splunk would answer 401 to every alert; say why instead of sending them.
      if (!this.token) return down('SIEM_TOKEN is not set: Splunk HEC needs it');
      headers.authorization = `Splunk ${this.token}`;
      body = toSplunkHec(alert, this.host);
    } else {
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      body = this.format === 'ocsf' ? toOcsf(alert) : toWebhookJson(alert);
    }
    try {
      const res = await request(this.url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      if (res.statusCode >= 200 && res.statusCode < 300) {
        await res.body.dump();
        return DELIVERED;
      }
      const snippet = reasonSnippet(await readSome(res.body, 4096).catch(() => ''), this.token);
      return {
        delivered: false,
        reason: `HTTP ${res.statusCode}${snippet ? `: ${snippet}` : ''}`,
        sinkDown: !PAYLOAD_REJECTED.has(res.statusCode),
      };
    } catch (err) {
      return down(errorReason(err, this.timeoutMs));
    }
  }

  async close() {}
}

/** `udp://host:port` or `tcp://host:port` (validated by the env schema). */
export function parseSyslogUrl(url: string): {
  protocol: 'udp' | 'tcp';
  host: string;
  port: number;
} {
  const m = /^(udp|tcp):\/\/([^/:]+):(\d{1,5})$/.exec(url);
  if (!m) throw new Error('SIEM_SYSLOG_URL: use udp://host:port or tcp://host:port');
  return { protocol: m[1] as 'udp' | 'tcp', host: m[2]!, port: Number(m[3]) };
}

/**
 * CEF over syslog, one RFC 5424 message per datagram. UDP cannot confirm receipt: a datagram the
 * kernel accepted counts as delivered, so an alert sent while the collector is down is lost.
 */
export class UdpSyslogSink implements SinkClient {
  readonly name = 'syslog' as const;
  private socket: UdpSocket | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs: number,
    private readonly hostname: string,
  ) {}

  send(alert: Alert): Promise<Delivery> {
    const message = Buffer.from(toSyslogCef(alert, this.hostname), 'utf8');
    const socket = this.open();
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => resolve(down(`no answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      socket.send(message, this.port, this.host, (err) => {
        clearTimeout(timer);
        resolve(err ? down(errorReason(err, this.timeoutMs)) : DELIVERED);
      });
    });
  }

  private open(): UdpSocket {
    if (this.socket) return this.socket;
    const socket = createSocket('udp4');
    socket.on('error', () => {
      if (this.socket === socket) this.socket = undefined;
      socket.close();
    });
    socket.unref();
    this.socket = socket;
    return socket;
  }

  async close() {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}

/**
 * CEF over syslog on one TCP connection, with RFC 6587 octet-counting framing (`<bytes> <message>`),
 * so a message is one frame whatever it contains. A frame the socket accepted and flushed to the
 * kernel counts as delivered. The connection is re-opened after any error; a frame that failed
 * half-written dies with its connection, so the collector never sees a torn frame followed by more.
 */
export class TcpSyslogSink implements SinkClient {
  readonly name = 'syslog' as const;
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly timeoutMs: number,
    private readonly hostname: string,
  ) {}

  async send(alert: Alert): Promise<Delivery> {
    const line = toSyslogCef(alert, this.hostname);
    const frame = Buffer.from(`${Buffer.byteLength(line, 'utf8')} ${line}`, 'utf8');
    // One time limit for connecting and writing together, as for an HTTP send.
    const deadline = Date.now() + this.timeoutMs;
    try {
      const socket = await this.connection(deadline);
      await this.write(socket, frame, deadline);
      return DELIVERED;
    } catch (err) {
      return down(errorReason(err, this.timeoutMs));
    }
  }

  private connection(deadline: number): Promise<Socket> {
    const current = this.socket;
    if (current && !current.destroyed && current.writable) return Promise.resolve(current);
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const socket = createConnection({ host: this.host, port: this.port });
      let failure: Error | undefined;
      const timer = setTimeout(
        () => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })),
        Math.max(0, deadline - Date.now()),
      );
      socket.on('error', (err) => (failure = err));
      // The collector closed its side: writing on would only feed a dead connection.
      socket.on('end', () => socket.destroy());
      socket.on('close', () => {
        clearTimeout(timer);
        if (this.socket === socket) this.socket = undefined;
        reject(failure ?? Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 30_000);
        this.socket = socket;
        resolve(socket);
      });
      // Collectors send nothing; reading anyway is how we notice that they closed the connection.
      socket.resume();
    }).finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private write(socket: Socket, frame: Buffer, deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          const err = Object.assign(new Error('write timeout'), { code: 'ETIMEDOUT' });
          socket.destroy(err);
          reject(err);
        },
        Math.max(0, deadline - Date.now()),
      );
      socket.write(frame, (err) => {
        clearTimeout(timer);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve();
      });
    });
  }

  async close() {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }
}

/** The client of each sink the environment configures. */
export function createSinks(env: AuditEnv, hostname: string): SinkClient[] {
  const sinks: SinkClient[] = [];
  if (env.SIEM_URL)
    sinks.push(
      new WebhookSink(env.SIEM_URL, env.SIEM_FORMAT, env.SIEM_TOKEN, env.SIEM_TIMEOUT_MS, hostname),
    );
  if (env.SIEM_SYSLOG_URL) {
    const { protocol, host, port } = parseSyslogUrl(env.SIEM_SYSLOG_URL);
    const Sink = protocol === 'udp' ? UdpSyslogSink : TcpSyslogSink;
    sinks.push(new Sink(host, port, env.SIEM_TIMEOUT_MS, hostname));
  }
  return sinks;
}
