import { useMemo, useState } from 'preact/hooks';
import { api } from '../api';
import { type Series, TimeChart } from '../chart';
import { ProjectPicker, useProject, WindowPicker, windowOf } from '../project';
import { useCan } from '../session';
import type { AlertsPage, PeersReport, Summary } from '../types';
import { Async, Badge, Card, Empty, number, Page, Table, Time, useLoad } from '../ui';

const BUCKET_S = { hour: 3600, day: 86_400 } as const;

function Stat({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div class="stat">
      <dt>{label}</dt>
      <dd>
        {value}
        {hint && <span class="muted small"> {hint}</span>}
      </dd>
    </div>
  );
}

function Numbers({ s, seconds }: { s: Summary; seconds: number }) {
  const lat = s.latency;
  return (
    <dl class="stats">
      <Stat
        label="Calls per second"
        value={(s.totals.calls / seconds).toFixed(2)}
        hint={`(${number(s.totals.calls)} calls)`}
      />
      <Stat label="Allowed" value={number(s.totals.allowed)} />
      <Stat label="Denied" value={number(s.totals.denied + s.totals.rejected)} />
      <Stat label="Pending approval" value={number(s.totals.pending_approval)} />
      <Stat label="Latency p50" value={lat?.p50_ms == null ? '—' : `${lat.p50_ms} ms`} />
      <Stat label="Latency p99" value={lat?.p99_ms == null ? '—' : `${lat.p99_ms} ms`} />
    </dl>
  );
}

function Charts({ s }: { s: Summary }) {
  const per = BUCKET_S[s.bucket];
  const times = useMemo(() => s.series.map((p) => p.at), [s]);
  const traffic: Series[] = useMemo(
    () => [
      {
        label: 'calls/s',
        values: s.series.map((p) => p.calls / per),
        color: '#1f4e8c',
        unit: '/s',
      },
      {
        label: 'denied/s',
        values: s.series.map((p) => p.denied / per),
        color: '#b3261e',
        unit: '/s',
      },
    ],
    [s, per],
  );
  const latency: Series[] = useMemo(
    () => [
      { label: 'p50', values: s.series.map((p) => p.p50_ms ?? null), color: '#2e7d32', unit: 'ms' },
      { label: 'p99', values: s.series.map((p) => p.p99_ms ?? null), color: '#8a5a00', unit: 'ms' },
    ],
    [s],
  );
  if (!s.series.length) return <Empty>No calls in this window.</Empty>;
  return (
    <div class="grid two">
      <TimeChart title={`Calls per second, by ${s.bucket}`} times={times} series={traffic} />
      <TimeChart title={`Latency, by ${s.bucket}`} times={times} series={latency} />
    </div>
  );
}

function TopCodes({ s }: { s: Summary }) {
  const codes = s.by_code.filter((c) => c.code !== '' && c.code !== 'none').slice(0, 8);
  if (!codes.length) return <Empty>No denials in this window.</Empty>;
  return (
    <Table caption="Top denial codes">
      <thead>
        <tr>
          <th scope="col">code</th>
          <th scope="col" class="num">
            calls
          </th>
        </tr>
      </thead>
      <tbody>
        {codes.map((c) => (
          <tr key={c.code}>
            <td>
              <code>{c.code}</code>
            </td>
            <td class="num">{number(c.calls)}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

function RecentAlerts({ project }: { project: string }) {
  const alerts = useLoad(
    () => api<AlertsPage>('/api/alerts', { query: { project, limit: 5 } }),
    [project],
  );
  return (
    <Async loaded={alerts} what="alerts">
      {(page) =>
        page.alerts.length ? (
          <ul class="plain">
            {page.alerts.map((a) => (
              <li key={a.alert_id}>
                <Badge value={a.severity} /> {a.summary}{' '}
                <span class="muted small">
                  <Time iso={a.raised_at} />
                </span>
              </li>
            ))}
            <li>
              <a href="/dash/alerts">All alerts</a>
            </li>
          </ul>
        ) : (
          <Empty>No alerts.</Empty>
        )
      }
    </Async>
  );
}

function PeerHealth() {
  const peers = useLoad(() => api<PeersReport>('/api/federation/peers'), []);
  return (
    <Async loaded={peers} what="peers">
      {(r) =>
        r.peers.length ? (
          <ul class="plain">
            {r.peers.map((p) => (
              <li key={p.peer}>
                <Badge value={p.state} /> {p.peer}{' '}
                <span class="muted small">{p.latency_ms === null ? '' : `${p.latency_ms} ms`}</span>
              </li>
            ))}
          </ul>
        ) : (
          <Empty>No peers configured.</Empty>
        )
      }
    </Async>
  );
}

export function OverviewPage() {
  const can = useCan();
  const [project, setProject] = useProject();
  const [win, setWin] = useState('24h');
  const w = useMemo(() => windowOf(win), [win]);
  const summary = useLoad(
    () =>
      api<Summary>('/api/analytics/summary', {
        query: { project, from: w.from, to: w.to, bucket: w.bucket },
      }),
    [project, w],
  );
  return (
    <Page
      title="Overview"
      actions={
        <>
          <ProjectPicker value={project} onChange={setProject} />
          <WindowPicker value={win} onChange={setWin} />
          <button type="button" onClick={() => summary.reload()}>
            Refresh
          </button>
        </>
      }
    >
      <Async loaded={summary} what="the summary">
        {(s) => (
          <>
            <Numbers s={s} seconds={w.seconds} />
            <Charts s={s} />
            <div class="grid three">
              <Card title="Top denial codes">
                <TopCodes s={s} />
              </Card>
              {can('audit.read') && (
                <Card title="Recent alerts">
                  <RecentAlerts project={project} />
                </Card>
              )}
              {can('federation.read') && (
                <Card title="Peers">
                  <PeerHealth />
                </Card>
              )}
            </div>
          </>
        )}
      </Async>
    </Page>
  );
}
