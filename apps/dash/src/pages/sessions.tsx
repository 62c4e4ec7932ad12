import { useMemo, useState } from 'preact/hooks';
import { useLocation, useRoute } from 'preact-iso';
import { api } from '../api';
import { TimeChart } from '../chart';
import { ProjectPicker, useProject } from '../project';
import { RecordsTable } from '../records';
import { useCan } from '../session';
import { SimulationView } from '../simulation';
import type { HistoryPage, RiskSessions, SessionTrace, Simulation } from '../types';
import {
  Async,
  Card,
  Empty,
  ErrorNote,
  number,
  Page,
  Select,
  Table,
  Time,
  useAction,
  useLoad,
} from '../ui';

function RiskySessions({ project }: { project: string }) {
  const from = useMemo(() => new Date(Date.now() - 7 * 86_400_000).toISOString(), []);
  const risky = useLoad(
    () => api<RiskSessions>('/api/risk/sessions', { query: { project, from, limit: 20 } }),
    [project, from],
  );
  return (
    <Card title="Riskiest sessions, last 7 days">
      <Async loaded={risky} what="sessions">
        {(r) =>
          r.sessions.length ? (
            <Table caption="Riskiest sessions">
              <thead>
                <tr>
                  <th scope="col">session</th>
                  <th scope="col">agent</th>
                  <th scope="col" class="num">
                    calls
                  </th>
                  <th scope="col" class="num">
                    denials
                  </th>
                  <th scope="col" class="num">
                    max risk
                  </th>
                  <th scope="col">why</th>
                  <th scope="col">last seen</th>
                </tr>
              </thead>
              <tbody>
                {r.sessions.map((s) => (
                  <tr key={s.session_id}>
                    <td>
                      <a
                        href={`/dash/sessions/${encodeURIComponent(project)}/${encodeURIComponent(s.session_id)}`}
                      >
                        {s.session_id}
                      </a>
                    </td>
                    <td>{s.agent_id}</td>
                    <td class="num">{number(s.calls)}</td>
                    <td class="num">{number(s.denials)}</td>
                    <td class="num">{s.max_risk.toFixed(2)}</td>
                    <td>{s.factors.join('; ')}</td>
                    <td>
                      <Time iso={s.last_seen} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          ) : (
            <Empty>No sessions in the last 7 days.</Empty>
          )
        }
      </Async>
    </Card>
  );
}

function Simulate({ project, sid }: { project: string; sid: string }) {
  const [against, setAgainst] = useState('live');
  const [candidate, setCandidate] = useState('');
  const history = useLoad(
    () =>
      api<HistoryPage>('/api/policy/history', { query: { project, kind: 'policies', limit: 20 } }),
    [project],
  );
  const [result, setResult] = useState<Simulation | null>(null);
  const sim = useAction(async () => {
    const target =
      against === 'live'
        ? {}
        : against === 'candidate'
          ? { policy_yaml: candidate }
          : { version_id: against };
    setResult(
      await api<Simulation>('/api/simulate', {
        method: 'POST',
        body: { project, session_id: sid, ...target },
      }),
    );
  });
  const versions: Array<[string, string]> =
    history.state === 'ready'
      ? history.data.versions.map((v) => [
          v.id,
          `version ${v.id.slice(0, 8)} · ${new Date(v.created_at).toLocaleString()} · ${v.reason || v.source}`,
        ])
      : [];
  return (
    <Card title="Simulate this session">
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void sim.run();
        }}
      >
        <Select
          label="Against"
          value={against}
          options={[
            ['live', 'the live policy'],
            ...versions,
            ['candidate', 'a candidate policy file…'],
          ]}
          onChange={setAgainst}
        />
        <button
          type="submit"
          class="primary"
          disabled={sim.pending || (against === 'candidate' && !candidate.trim())}
        >
          {sim.pending ? 'Simulating…' : 'Simulate'}
        </button>
      </form>
      {against === 'candidate' && (
        <label class="field block">
          <span>Candidate policies/{project}.yaml</span>
          <textarea
            rows={10}
            value={candidate}
            onInput={(e) => setCandidate((e.target as HTMLTextAreaElement).value)}
          />
        </label>
      )}
      {sim.error && <ErrorNote error={sim.error} title="Simulation refused" />}
      {result && <SimulationView sim={result} />}
    </Card>
  );
}

function SessionView({ project, sid }: { project: string; sid: string }) {
  const can = useCan();
  const trace = useLoad(
    () =>
      api<SessionTrace>(`/api/session/${encodeURIComponent(sid)}`, {
        headers: { 'x-project-id': project },
      }),
    [project, sid],
  );
  return (
    <Async loaded={trace} what="the session">
      {(t) => {
        const calls = [...t.calls].sort((a, b) => a.timestamp.localeCompare(b.timestamp));
        return (
          <>
            <Card title={`Session ${sid}`}>
              <p>
                {number(calls.length)} calls by {t.agent_ids.join(', ') || '—'}, from{' '}
                <Time iso={t.started_at} /> to <Time iso={t.last_at} />; highest risk{' '}
                {t.max_risk_score.toFixed(2)}.
                {t.truncated && ' (Only the first 1,000 events are shown.)'}
              </p>
              {calls.length > 0 && (
                <TimeChart
                  title="Risk over the session"
                  times={calls.map((c) => c.timestamp)}
                  series={[
                    {
                      label: 'risk',
                      values: calls.map((c) => c.validation?.risk_score ?? null),
                      color: '#8a5a00',
                      unit: '',
                    },
                  ]}
                />
              )}
              <RecordsTable
                records={calls}
                caption="The session's calls, in order"
                empty="This session has no calls."
              />
            </Card>
            {can('analytics.run') && <Simulate project={project} sid={sid} />}
          </>
        );
      }}
    </Async>
  );
}

/** Seed 002's session trace viewer: find a session, see its calls in order and its risk, replay it. */
export function SessionsPage() {
  const can = useCan();
  const { params } = useRoute();
  const { route } = useLocation();
  const [picked, setPicked] = useProject();
  const project = params.project ?? picked;
  const [search, setSearch] = useState(params.sid ?? '');
  return (
    <Page title="Sessions">
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          if (search.trim())
            route(
              `/dash/sessions/${encodeURIComponent(project)}/${encodeURIComponent(search.trim())}`,
            );
        }}
      >
        <ProjectPicker
          value={project}
          onChange={(p) => {
            setPicked(p);
            if (params.sid) route('/dash/sessions');
          }}
        />
        <label class="field">
          <span>Session id</span>
          <input
            type="search"
            value={search}
            onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" class="primary">
          Find
        </button>
      </form>
      {params.sid ? (
        <SessionView project={project} sid={params.sid} />
      ) : can('analytics.read') ? (
        <RiskySessions project={project} />
      ) : (
        <Empty>Enter a session id.</Empty>
      )}
    </Page>
  );
}
