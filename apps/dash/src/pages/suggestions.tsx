import { useMemo, useState } from 'preact/hooks';
import { api } from '../api';
import { ProjectPicker, useProject, WindowPicker, windowOf } from '../project';
import { useCan } from '../session';
import type { Suggestion, Suggestions } from '../types';
import { Async, Cards, ErrorNote, percent, Page, TextField, useAction, useLoad } from '../ui';

function SuggestionCard({
  s,
  project,
  onChange,
}: {
  s: Suggestion;
  project: string;
  onChange(): void;
}) {
  const can = useCan();
  const [why, setWhy] = useState('');
  const [note, setNote] = useState<string | null>(null);
  const propose = useAction(async () => {
    const p = s.change.proposal!;
    const r = await api<{ proposal_id: string; status: string }>('/api/propose_policy', {
      method: 'POST',
      headers: { 'x-project-id': project },
      body: p,
    });
    setNote(
      r.status === 'pending'
        ? 'Proposed: it waits for review under Proposals.'
        : `Proposed, and ${r.status} at once (the project auto-approves proposals that pass its guardrails).`,
    );
  });
  const dismiss = useAction(async () => {
    await api(`/api/policy/suggest/${s.id}/dismiss`, {
      method: 'POST',
      body: { project, why: why.trim() },
    });
    onChange();
  });
  return (
    <li class="card">
      <h2>{s.title}</h2>
      <p class="muted small">
        {s.kind.replace(/_/g, ' ')} · confidence {percent(s.confidence)}
      </p>
      <p>{s.reason}</p>
      <h3>Evidence</h3>
      <ul class="plain">
        {Object.entries(s.evidence.counts).map(([k, v]) => (
          <li key={k}>
            {k.replace(/_/g, ' ')}: {v.toLocaleString()}
          </li>
        ))}
        {s.evidence.trace_ids.map((t) => (
          <li key={t}>
            example: <a href={`/dash/trace/${encodeURIComponent(t)}`}>{t.slice(0, 16)}…</a>
          </li>
        ))}
      </ul>
      <h3>Change to {s.change.file}</h3>
      <pre class="json" tabIndex={0} aria-label={`suggested change to ${s.change.file}`}>
        {s.change.yaml}
      </pre>
      <p class="muted small">{s.change.apply}</p>
      <div class="inline">
        {s.change.proposal && can('policy.write') && (
          <button
            type="button"
            class="primary"
            disabled={propose.pending || note !== null}
            onClick={() => void propose.run()}
          >
            Propose this
          </button>
        )}
        {can('analytics.run') && (
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              void dismiss.run();
            }}
          >
            <TextField
              label="Why dismiss it"
              value={why}
              onInput={setWhy}
              required
              maxLength={1000}
            />
            <button type="submit" disabled={dismiss.pending || !why.trim()}>
              Dismiss
            </button>
          </form>
        )}
      </div>
      {note && (
        <p role="status" class="ok-note">
          {note}
        </p>
      )}
      {propose.error && <ErrorNote error={propose.error} title="Not proposed" />}
      {dismiss.error && <ErrorNote error={dismiss.error} title="Not dismissed" />}
    </li>
  );
}

/** Rule suggestions from the analytics, each with its evidence: propose it, or dismiss it. */
export function SuggestionsPage() {
  const [project, setProject] = useProject();
  const [win, setWin] = useState('30d');
  const w = useMemo(() => windowOf(win), [win]);
  const list = useLoad(
    () => api<Suggestions>('/api/policy/suggest', { query: { project, from: w.from, to: w.to } }),
    [project, w],
  );
  return (
    <Page
      title="Suggestions"
      actions={
        <>
          <ProjectPicker value={project} onChange={setProject} />
          <WindowPicker value={win} onChange={setWin} />
        </>
      }
    >
      <Async loaded={list} what="suggestions">
        {(r) => (
          <>
            {r.notes.map((n) => (
              <p key={n} class="muted small">
                {n}
              </p>
            ))}
            <Cards
              items={r.suggestions}
              emptyTitle="Nothing to suggest"
              empty="No suggestions for this window: the calls gave no reason to change the policy."
            >
              {(s) => <SuggestionCard key={s.id} s={s} project={project} onChange={list.reload} />}
            </Cards>
          </>
        )}
      </Async>
    </Page>
  );
}
