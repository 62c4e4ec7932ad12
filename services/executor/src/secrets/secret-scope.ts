import { GatewayError } from '@sg/contracts';
import { setOwn } from '@sg/runtime';
import type { SecretProvider } from '@sg/runtime';

/** `{{secret:NAME}}`: how the registry refers to a secret. */
export const SECRET_REF = /\{\{secret:([A-Za-z0-9_]+)\}\}/g;

/** What every secret value is replaced with in a result. */
export const SECRET_REDACTION = '[redacted:secret]';

/**
 * The secrets of one call: resolves `{{secret:NAME}}` in the registry's url, headers and
 * arguments, remembers every value it handed out, and scrubs those values from whatever goes
 * back (result, event). Values never leave this object except into the upstream request.
 *
 * Only registry-owned text goes through resolve(): the agent's arguments never do, so an
 * agent cannot ask for a secret by writing `{{secret:X}}` (it is sent to the upstream as it is).
 */
export class SecretScope {
  private readonly values = new Map<string, string>();
  private forms: string[] | null = null;

  constructor(private readonly provider: SecretProvider) {}

  /** Number of distinct secrets resolved so far. */
  get size(): number {
    return this.values.size;
  }

  /**
   * `text` with each reference replaced by its value (passed through `encode`, e.g. for a URL).
   * A missing secret fails with EXECUTOR.SECRET_MISSING, naming it, never a value.
   */
  async resolve(text: string, encode: (value: string) => string = (v) => v): Promise<string> {
    const names = [...text.matchAll(SECRET_REF)].map((m) => m[1]!);
    if (names.length === 0) return text;
    for (const name of names) await this.value(name);
    return text.replace(SECRET_REF, (_ref, name: string) => encode(this.values.get(name)!));
  }

  /** resolve() applied to every string (not the keys) of a JSON-like value, at any depth. */
  async resolveDeep(value: unknown): Promise<unknown> {
    if (typeof value === 'string') return this.resolve(value);
    if (Array.isArray(value)) return Promise.all(value.map((v) => this.resolveDeep(v)));
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) setOwn(out, k, await this.resolveDeep(v));
      return out;
    }
    return value;
  }

  /** `text` with every resolved value (and its URL-encoded, base64 and JSON-escaped forms) replaced. */
  scrubText(text: string): string {
    let out = text;
    for (const form of this.allForms())
      if (out.includes(form)) out = out.split(form).join(SECRET_REDACTION);
    return out;
  }

  /** scrubText() on every string and key of a JSON-like value, at any depth (a copy). */
  scrub<T>(value: T): T {
    if (this.values.size === 0) return value;
    return this.scrubDeep(value) as T;
  }

  private scrubDeep(value: unknown): unknown {
    if (typeof value === 'string') return this.scrubText(value);
    if (Array.isArray(value)) return value.map((v) => this.scrubDeep(v));
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) setOwn(out, this.scrubText(k), this.scrubDeep(v));
      return out;
    }
    return value;
  }

  private async value(name: string): Promise<string> {
    const known = this.values.get(name);
    if (known !== undefined) return known;
    const value = await this.provider.get(name);
    if (value === undefined) {
      throw new GatewayError(
        'EXECUTOR.SECRET_MISSING',
        `the secret ${name} that the tool's registry entry refers to is not available`,
        { secret: name },
      );
    }
    this.values.set(name, value);
    this.forms = null;
    return value;
  }

  private allForms(): string[] {
    if (this.forms) return this.forms;
    const forms = new Set<string>();
    for (const v of this.values.values()) {
      if (v === '') continue;
      forms.add(v);
      forms.add(encodeURIComponent(v));
      forms.add(JSON.stringify(v).slice(1, -1));
      const b64 = Buffer.from(v, 'utf8').toString('base64');
      forms.add(b64);
      forms.add(b64.replace(/=+$/, ''));
      forms.add(Buffer.from(v, 'utf8').toString('base64url'));
    }
    // Longest first, so a form that contains another is replaced whole.
    this.forms = [...forms].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
    return this.forms;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
