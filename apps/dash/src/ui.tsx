import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export type Loaded<T> =
  | { state: 'loading'; data?: undefined; error?: undefined }
  | { state: 'error'; data?: undefined; error: ApiError }
  | { state: 'ready'; data: T; error?: undefined };

function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 'CLIENT', (err as Error).message);
}

/** Loads `fn()` when `deps` change; `reload()` loads again. Stale answers are ignored. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Loaded<T> & { reload(): void } {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: 'loading' });
  const [tick, setTick] = useState(0);
  const run = useRef(0);
  useEffect(() => {
    const mine = ++run.current;
    setLoaded((prev) => (prev.state === 'ready' && tick > 0 ? prev : { state: 'loading' }));
    fn().then(
      (data) => mine === run.current && setLoaded({ state: 'ready', data }),
      (err: unknown) =>
        mine === run.current && setLoaded({ state: 'error', error: asApiError(err) }),
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...loaded, reload };
}

/** Runs an action (a write): pending while it runs, its error kept to show. */
export function useAction<A extends unknown[], T>(fn: (...args: A) => Promise<T>) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = async (...args: A): Promise<T | undefined> => {
    setPending(true);
    setError(null);
    try {
      return await fn(...args);
    } catch (err) {
      setError(asApiError(err));
      return undefined;
    } finally {
      setPending(false);
    }
  };
  return { run, pending, error, clear: () => setError(null) };
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function ErrorNote({ error, title }: { error: ApiError; title?: string }) {
  return (
    <div class="error" role="alert">
      <strong>{title ?? 'That did not work'}</strong>
      <p>
        {error.message} <code>{error.code}</code>
      </p>
      {error.traceId && <p class="muted">trace {error.traceId}</p>}
    </div>
  );
}

/** The three states of something loaded: loading, an error, or `children(data)`. */
export function Async<T>({
  loaded,
  what,
  children,
}: {
  loaded: Loaded<T>;
  what: string;
  children: (data: T) => ComponentChildren;
}) {
  if (loaded.state === 'loading') return <Loading what={what} />;
  if (loaded.state === 'error')
    return <ErrorNote error={loaded.error} title={`Could not load ${what}`} />;
  return <>{children(loaded.data)}</>;
}

let navigated = false;

export function Page({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ComponentChildren;
  children: ComponentChildren;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · SecureGateway`;
    // After a navigation (not on the first page: there the skip link comes first), keyboard and
    // screen-reader users land on the new page's heading.
    if (navigated) heading.current?.focus();
    navigated = true;
  }, [title]);
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-head">
        <h1 id="page-title" tabIndex={-1} ref={heading}>
          {title}
        </h1>
        {actions && <div class="page-actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

export function Card({ title, children }: { title: string; children: ComponentChildren }) {
  const id = `card-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium',
  timeStyle: 'medium',
});

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span class="muted">—</span>;
  const d = new Date(iso);
  return <time dateTime={iso}>{Number.isNaN(d.getTime()) ? iso : timeFormat.format(d)}</time>;
}

export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" aria-label={label} tabIndex={0}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

const OUTCOME_CLASS: Record<string, string> = {
  success: 'ok',
  allowed: 'ok',
  executed: 'ok',
  approved: 'ok',
  delivered: 'ok',
  active: 'ok',
  denied: 'bad',
  rejected: 'bad',
  error: 'bad',
  failed: 'bad',
  expired: 'warn',
  pending: 'warn',
  pending_approval: 'warn',
  critical: 'bad',
  high: 'bad',
  medium: 'warn',
  low: 'muted',
  up: 'ok',
  down: 'bad',
  unknown: 'warn',
  pass: 'ok',
  fail: 'bad',
  skip: 'muted',
  'signature fails': 'bad',
  unsigned: 'muted',
  acknowledged: 'ok',
};

export function Badge({ value }: { value: string }) {
  return <span class={`badge ${OUTCOME_CLASS[value] ?? ''}`}>{value.replace(/_/g, ' ')}</span>;
}

export function percent(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : `${(n * 100).toFixed(1)} %`;
}

export function number(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : n.toLocaleString();
}

/** A labelled select (every input of the dashboard has a visible label). */
export function Select({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: string;
  options: Array<[string, string]>;
  onChange(v: string): void;
}) {
  return (
    <label class="field">
      <span>{label}</span>
      <select value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

export function TextField({
  label,
  value,
  onInput,
  placeholder,
  type = 'text',
  required,
  maxLength,
  autoComplete,
}: {
  label: string;
  value: string;
  onInput(v: string): void;
  placeholder?: string;
  type?: 'text' | 'password';
  required?: boolean;
  maxLength?: number;
  autoComplete?: string;
}) {
  return (
    <label class="field">
      <span>{label}</span>
      <input
        type={type as 'text'}
        value={value}
        placeholder={placeholder}
        required={required}
        maxLength={maxLength}
        autoComplete={autoComplete}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)}
      />
    </label>
  );
}

/**
 * Every table of the dashboard: its caption (for screen readers; shown with `showCaption`),
 * and a wrapper that scrolls sideways in a narrow window instead of widening the page (a
 * focusable region, so keyboard users can scroll it too).
 */
export function Table({
  caption,
  showCaption = false,
  children,
}: {
  caption: string;
  showCaption?: boolean;
  children: ComponentChildren;
}) {
  return (
    <div class="scroll" role="region" aria-label={caption} tabIndex={0}>
      <table>
        <caption class={showCaption ? undefined : 'sr-only'}>{caption}</caption>
        {children}
      </table>
    </div>
  );
}

/** A list of cards, or, when there is none, a card saying so. */
export function Cards<T>({
  items,
  children,
  emptyTitle,
  empty,
}: {
  items: T[];
  children: (item: T) => ComponentChildren;
  emptyTitle: string;
  empty: ComponentChildren;
}) {
  if (!items.length)
    return (
      <Card title={emptyTitle}>
        <Empty>{empty}</Empty>
      </Card>
    );
  return <ul class="cards">{items.map(children)}</ul>;
}

/** One of a decision form's buttons; `run` gets the form's note, trimmed. */
export interface Decision {
  text: string;
  tone?: 'primary' | 'danger';
  run(note: string): void;
}

/**
 * A note and the decisions that take it: approve or reject with a comment, acknowledge with
 * a note. The buttons are disabled while one runs, and a refusal shows under them. Pressing
 * Enter in the note decides nothing: a decision is always a button.
 */
export function DecisionForm({
  label,
  maxLength,
  decisions,
  pending,
  error,
  refused,
}: {
  label: string;
  maxLength: number;
  decisions: Decision[];
  pending: boolean;
  error: ApiError | null;
  /** The title of the refusal's note, e.g. "Not resolved". */
  refused: string;
}) {
  const [note, setNote] = useState('');
  return (
    <>
      <form class="inline" onSubmit={(e) => e.preventDefault()}>
        <label class="field grow">
          <span>{label}</span>
          <input
            value={note}
            maxLength={maxLength}
            onInput={(e) => setNote((e.target as HTMLInputElement).value)}
          />
        </label>
        {decisions.map((d) => (
          <button
            key={d.text}
            type="button"
            class={d.tone}
            disabled={pending}
            onClick={() => d.run(note.trim())}
          >
            {d.text}
          </button>
        ))}
      </form>
      {error && <ErrorNote error={error} title={refused} />}
    </>
  );
}
