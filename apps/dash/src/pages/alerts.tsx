import { useState } from 'preact/hooks';
import { api } from '../api';
import { ProjectPicker, useProject } from '../project';
import { useCan } from '../session';
import type { AlertsPage as Page_, StoredAlert } from '../types';
import {
  Async,
  Badge,
  Cards,
  DecisionForm,
  ErrorNote,
  Page,
  Select,
  Time,
  useAction,
  useLoad,
} from '../ui';

type Alert = StoredAlert & {
  acknowledged?: { at: string; by: string; note: string | null } | null;
};

function Delivery({ a }: { a: Alert }) {
  if (!a.delivery.length) return <span class="muted">no SIEM configured</span>;
  return (
    <ul class="plain">
      {a.delivery.map((d) => (
        <li key={d.sink}>
          {d.sink}:{' '}
          {d.delivered_at ? (
            <>
              <Badge value="delivered" /> <Time iso={d.delivered_at} />
            </>
          ) : (
            <>
              <Badge value="pending" /> {d.attempts} attempt{d.attempts === 1 ? '' : 's'}
              {d.last_error && <span class="muted"> ({d.last_error})</span>}
            </>
          )}
        </li>
      ))}
    </ul>
  );
}

function AlertRow({ a, onAck }: { a: Alert; onAck(): void }) {
  const can = useCan();
  const ack = useAction(async (note: string) => {
    await api(`/api/alerts/${a.alert_id}/ack`, {
      method: 'POST',
      body: note ? { note } : {},
    });
    onAck();
  });
  return (
    <li class="card">
      <h2>
        <Badge value={a.severity} /> {a.summary}
      </h2>
      <p class="muted small">
        {a.type.replace(/_/g, ' ')} · {a.project} · raised <Time iso={a.raised_at} />
        {a.suppressed > 0 && ` · ${a.suppressed} repeats folded in`}
      </p>
      <dl class="facts">
        <dt>SIEM delivery</dt>
        <dd>
          <Delivery a={a} />
        </dd>
        {a.trace_ids.length > 0 && (
          <>
            <dt>examples</dt>
            <dd>
              {a.trace_ids.slice(-3).map((t) => (
                <a key={t} class="gap" href={`/dash/trace/${encodeURIComponent(t)}`}>
                  {t.slice(0, 12)}…
                </a>
              ))}
            </dd>
          </>
        )}
        <dt>acknowledged</dt>
        <dd>
          {a.acknowledged ? (
            <>
              by {a.acknowledged.by}, <Time iso={a.acknowledged.at} />
              {a.acknowledged.note && `: “${a.acknowledged.note}”`}
            </>
          ) : (
            'no'
          )}
        </dd>
      </dl>
      {!a.acknowledged && can('alerts.ack') && (
        <DecisionForm
          label="Note"
          maxLength={500}
          decisions={[{ text: 'Acknowledge', tone: 'primary', run: (n) => void ack.run(n) }]}
          pending={ack.pending}
          error={ack.error}
          refused="Not acknowledged"
        />
      )}
    </li>
  );
}

/** Anomaly alerts: newest first, their SIEM delivery, and acknowledgement. */
export function AlertsPage() {
  const [project, setProject] = useProject();
  const [acked, setAcked] = useState('false');
  const list = useLoad(
    () =>
      api<Page_>('/api/alerts', {
        query: { project, limit: 50, acknowledged: acked === 'all' ? undefined : acked },
      }),
    [project, acked],
  );
  return (
    <Page
      title="Alerts"
      actions={
        <>
          <ProjectPicker value={project} onChange={setProject} />
          <Select
            label="Show"
            value={acked}
            options={[
              ['false', 'not acknowledged'],
              ['true', 'acknowledged'],
              ['all', 'all'],
            ]}
            onChange={setAcked}
          />
        </>
      }
    >
      <Async loaded={list} what="alerts">
        {(p) => (
          <Cards items={p.alerts as Alert[]} emptyTitle="No alerts" empty="No alerts to show.">
            {(a) => <AlertRow key={a.alert_id} a={a} onAck={list.reload} />}
          </Cards>
        )}
      </Async>
      {list.state === 'error' && list.error.code === 'AUDIT.INVALID_QUERY' && (
        <ErrorNote error={list.error} title="The gateway does not know this filter" />
      )}
    </Page>
  );
}
