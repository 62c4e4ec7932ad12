import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, withQuery } from '../api';
import { ProjectPicker, useProject } from '../project';
import { RecordsTable } from '../records';
import type { AuditRecord, RecordsPage } from '../types';
import { ErrorNote, Loading, Page, Select, TextField, useLoad } from '../ui';

const STATUSES: Array<[string, string]> = [
  ['', 'any'],
  ['success', 'success'],
  ['denied', 'denied'],
  ['pending_approval', 'pending approval'],
  ['rejected', 'rejected'],
  ['error', 'error'],
];
const KEEP = 200;

/** Calls as they are stored (Server-Sent Events from GET /api/audit/stream), newest first. */
export function FeedPage() {
  const [project, setProject] = useProject();
  const [agent, setAgent] = useState('');
  const [tool, setTool] = useState('');
  const [status, setStatus] = useState('');
  const [paused, setPaused] = useState(false);
  const [live, setLive] = useState<AuditRecord[]>([]);
  const [state, setState] = useState<'connecting' | 'live' | 'retrying'>('connecting');
  const filters = useMemo(
    () => ({ project, agent_id: agent.trim(), tool: tool.trim(), status }),
    [project, agent, tool, status],
  );
  const recent = useLoad(
    () => api<RecordsPage>('/api/audit/records', { query: { ...filters, limit: 50 } }),
    [filters],
  );

  useEffect(() => {
    setLive([]);
    if (paused) return;
    const source = new EventSource(withQuery('/api/audit/stream', filters));
    setState('connecting');
    source.onopen = () => setState('live');
    source.onerror = () => setState('retrying');
    source.addEventListener('call', (e) => {
      const record = JSON.parse((e as MessageEvent<string>).data) as AuditRecord;
      setLive((prev) =>
        prev.some((r) => r.audit_id === record.audit_id) ? prev : [record, ...prev].slice(0, KEEP),
      );
    });
    return () => source.close();
  }, [filters, paused]);

  const records = useMemo(() => {
    if (recent.state !== 'ready') return live;
    const seen = new Set(live.map((r) => r.audit_id));
    return [...live, ...recent.data.records.filter((r) => !seen.has(r.audit_id))].slice(0, KEEP);
  }, [live, recent]);

  return (
    <Page
      title="Live audit"
      actions={
        <button type="button" aria-pressed={paused} onClick={() => setPaused(!paused)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
      }
    >
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <ProjectPicker value={project} onChange={setProject} />
        <TextField label="Agent" value={agent} onInput={setAgent} placeholder="any agent" />
        <TextField label="Tool" value={tool} onInput={setTool} placeholder="any tool" />
        <Select label="Outcome" value={status} options={STATUSES} onChange={setStatus} />
      </form>
      <p class="muted small" role="status" aria-live="polite">
        {paused
          ? 'Paused: new calls are not shown.'
          : state === 'live'
            ? `Live: new calls appear at the top (${live.length} since you opened the page).`
            : state === 'connecting'
              ? 'Connecting…'
              : 'The live feed was interrupted; reconnecting…'}
      </p>
      {recent.state === 'loading' && !live.length ? (
        <Loading what="recent calls" />
      ) : recent.state === 'error' ? (
        <ErrorNote error={recent.error} title="Could not load recent calls" />
      ) : (
        <RecordsTable
          records={records}
          caption="Calls, newest first"
          empty="No calls match these filters yet."
        />
      )}
    </Page>
  );
}
