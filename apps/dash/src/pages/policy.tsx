import { useState } from 'preact/hooks';
import { api } from '../api';
import { createTwoFilesPatch } from 'diff';
import { YamlEditor } from '../editor';
import { ProjectPicker, useProject } from '../project';
import { useCan } from '../session';
import type { HistoryPage, LintProblem, PolicyKind, PolicyVersion, VersionDetail } from '../types';
import {
  Async,
  Badge,
  Card,
  Empty,
  ErrorNote,
  Page,
  Select,
  TextField,
  Time,
  useAction,
  useLoad,
} from '../ui';

const KINDS: Array<[PolicyKind, string]> = [
  ['policies', 'policies'],
  ['contextual_policies', 'contextual_policies'],
  ['model_keys', 'model_keys'],
];

/** A unified diff, its added and removed lines marked (not by colour alone: + and - stay). */
export function UnifiedDiff({ diff, label }: { diff: string; label: string }) {
  if (!diff.trim()) return <p class="muted">No differences.</p>;
  return (
    <pre class="diff-text" aria-label={label} tabIndex={0}>
      {diff.split('\n').map((line, i) => (
        <span
          key={i}
          class={
            line.startsWith('+') && !line.startsWith('+++')
              ? 'add'
              : line.startsWith('-') && !line.startsWith('---')
                ? 'del'
                : ''
          }
        >
          {line}
          {'\n'}
        </span>
      ))}
    </pre>
  );
}

function VersionRow({
  v,
  active,
  project,
  onRolledBack,
}: {
  v: PolicyVersion;
  active: boolean;
  project: string;
  onRolledBack(): void;
}) {
  const can = useCan();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const detail = useLoad(
    () => (open ? api<VersionDetail>(`/api/policy/versions/${v.id}`) : Promise.resolve(null)),
    [open, v.id],
  );
  const rollback = useAction(async () => {
    await api(`/api/policy/rollback/${v.id}`, {
      method: 'POST',
      headers: { 'x-project-id': project },
      body: { reason: reason.trim() || `rollback to ${v.id}` },
    });
    onRolledBack();
  });
  return (
    <li class="version">
      <div class="version-head">
        <span>
          {active && <Badge value="active" />} <code>{v.id.slice(0, 8)}</code> ·{' '}
          <Time iso={v.created_at} /> · {v.author} · {v.source}
          {v.reason && <> · “{v.reason}”</>}{' '}
          {v.key_id === null ? (
            <Badge value="unsigned" />
          ) : (
            !v.verified && <Badge value="signature fails" />
          )}
        </span>
        <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'Hide diff' : 'Show diff'}
        </button>
      </div>
      {open && (
        <Async loaded={detail} what="the version">
          {(d) =>
            d ? (
              <UnifiedDiff diff={d.diff} label={`changes of version ${v.id.slice(0, 8)}`} />
            ) : null
          }
        </Async>
      )}
      {!active && can('policy.write') && (
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            void rollback.run();
          }}
        >
          <TextField
            label={`Reason for rolling back to ${v.id.slice(0, 8)}`}
            value={reason}
            onInput={setReason}
            maxLength={1000}
          />
          <button type="submit" disabled={rollback.pending}>
            {rollback.pending ? 'Rolling back…' : 'Roll back to this version'}
          </button>
          {rollback.error && <ErrorNote error={rollback.error} title="Rollback refused" />}
        </form>
      )}
    </li>
  );
}

function Editor({
  project,
  kind,
  active,
  saved,
  onSaved,
}: {
  project: string;
  kind: PolicyKind;
  active: VersionDetail | null;
  /** What the last save did (kept by the page: a save makes a new active version, and so a new editor). */
  saved: string | null;
  onSaved(note: string): void;
}) {
  const can = useCan();
  const writable = can('policy.write');
  const activeText = active?.content ?? '';
  const [draft, setDraft] = useState(activeText);
  const [reason, setReason] = useState('');
  const [problems, setProblems] = useState<LintProblem[] | null>(null);
  // Discarding remounts the editor with the active text (the editor owns its text).
  const [discards, setDiscards] = useState(0);

  const lint = async (yaml: string) => {
    const r = await api<{ ok: boolean; problems: LintProblem[] }>('/api/policy/lint', {
      method: 'POST',
      body: { project, kind, yaml },
    });
    setProblems(r.problems);
    return r.problems;
  };
  const save = useAction(async () => {
    const r = await api<{ version: PolicyVersion; created: boolean }>('/api/policy', {
      method: 'POST',
      body: { project, kind, yaml: draft, reason: reason.trim() },
    });
    onSaved(
      r.created
        ? `Saved as version ${r.version.id.slice(0, 8)}, active now.`
        : 'Nothing changed: that is the active version.',
    );
  });
  const changed = draft !== activeText;

  return (
    <>
      <Card title={`${kind}/${project}.yaml`}>
        {!writable && <p class="muted">Your roles may read policies, not change them.</p>}
        <YamlEditor
          key={discards}
          initial={draft}
          onChange={setDraft}
          lint={writable ? lint : undefined}
          label={`${kind}/${project}.yaml`}
          readOnly={!writable}
        />
        {writable && (
          <p class="lint-status" role="status" aria-live="polite">
            {problems === null
              ? ' '
              : problems.length === 0
                ? 'Lint: no problems.'
                : `Lint: ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems
                    .map((p) =>
                      p.line === null
                        ? p.reason
                        : `line ${p.line}${p.column === null ? '' : `:${p.column}`}: ${p.reason}`,
                    )
                    .join('; ')}`}
          </p>
        )}
        {writable && (
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              void save.run();
            }}
          >
            <TextField
              label="Reason for this change"
              value={reason}
              onInput={setReason}
              required
              maxLength={1000}
            />
            <button
              type="submit"
              class="primary"
              disabled={save.pending || !changed || !reason.trim() || (problems?.length ?? 0) > 0}
            >
              {save.pending ? 'Saving…' : 'Save as a new version'}
            </button>
            {changed && (
              <button
                type="button"
                onClick={() => {
                  setDraft(activeText);
                  setDiscards(discards + 1);
                }}
              >
                Discard changes
              </button>
            )}
          </form>
        )}
        {save.error && <ErrorNote error={save.error} title="Not saved" />}
        {saved && (
          <p class="ok-note" role="status">
            {saved}
          </p>
        )}
      </Card>
      {writable && changed && (
        <Card title="Your changes against the active version">
          <UnifiedDiff
            diff={createTwoFilesPatch(
              `${kind}/${project}.yaml (active)`,
              `${kind}/${project}.yaml (yours)`,
              activeText,
              draft,
            )}
            label="changes against the active version"
          />
        </Card>
      )}
    </>
  );
}

/** Seed 002's policy editor: edit with live lint, diff, save with a reason, history and rollback. */
export function PolicyPage() {
  const [project, setProject] = useProject();
  const [kind, setKind] = useState<PolicyKind>('policies');
  const [saved, setSaved] = useState<string | null>(null);
  const history = useLoad(
    () => api<HistoryPage>('/api/policy/history', { query: { project, kind, limit: 50 } }),
    [project, kind],
  );
  const newest = history.state === 'ready' ? history.data.versions[0] : undefined;
  const active = useLoad(
    () =>
      newest ? api<VersionDetail>(`/api/policy/versions/${newest.id}`) : Promise.resolve(null),
    [newest?.id],
  );
  return (
    <Page
      title="Policy"
      actions={
        <>
          <ProjectPicker
            value={project}
            onChange={(p) => {
              setSaved(null);
              setProject(p);
            }}
          />
          <Select
            label="File"
            value={kind}
            options={KINDS}
            onChange={(k) => {
              setSaved(null);
              setKind(k as PolicyKind);
            }}
          />
        </>
      }
    >
      <Async loaded={history} what="the policy history">
        {(h) => (
          <>
            <Async loaded={active} what="the active version">
              {(a) => (
                // A new active version (or file) starts a new draft.
                <Editor
                  key={`${kind}/${project}/${a?.id ?? ''}`}
                  project={project}
                  kind={kind}
                  active={a}
                  saved={saved}
                  onSaved={(note) => {
                    setSaved(note);
                    history.reload();
                  }}
                />
              )}
            </Async>
            <Card title="History">
              {h.versions.length ? (
                <ol class="versions">
                  {h.versions.map((v, i) => (
                    <VersionRow
                      key={v.id}
                      v={v}
                      active={i === 0}
                      project={project}
                      onRolledBack={history.reload}
                    />
                  ))}
                </ol>
              ) : (
                <Empty>
                  No versions of {kind}/{project}.yaml yet.
                </Empty>
              )}
            </Card>
          </>
        )}
      </Async>
    </Page>
  );
}
