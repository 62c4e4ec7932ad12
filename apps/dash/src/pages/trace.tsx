import { useRoute } from 'preact-iso';
import { api } from '../api';
import type { StoredEvent, TraceResult } from '../types';
import { Async, Badge, Card, Empty, Json, Page, Table, Time, useLoad } from '../ui';

interface RuleTraceEntry {
  check: string;
  outcome: 'pass' | 'fail' | 'skip';
  rule?: string;
  detail?: string;
}
interface DecisionLike {
  allowed?: boolean;
  code?: string | null;
  reason?: string;
  reasoning?: string[];
  risk_score?: number;
  policy_version?: string;
  rule_trace?: RuleTraceEntry[];
}

const short = (subject: string) => subject.replace(/^gw\.evt\./, '').replace(/\.v\d+$/, '');
const data = (e: StoredEvent | undefined) => (e?.data ?? {}) as Record<string, unknown>;

/** The decision of the call: in its toolcall.completed, or a decision event for older calls. */
function decisionOf(events: StoredEvent[]): DecisionLike | null {
  const completed = events.find((e) => short(e.subject) === 'toolcall.completed');
  const d = data(completed).decision as DecisionLike | null | undefined;
  if (d) return d;
  const made = events.find((e) => short(e.subject) === 'decision.made');
  return (
    (data(made).decision as DecisionLike | undefined) ??
    (made ? (data(made) as DecisionLike) : null)
  );
}

function RuleTrace({ d }: { d: DecisionLike }) {
  return (
    <>
      <p>
        <Badge value={d.allowed ? 'allowed' : 'denied'} /> {d.reason}{' '}
        {d.code && <code>{d.code}</code>}
      </p>
      <p class="muted small">
        risk {d.risk_score?.toFixed(2) ?? '—'} · policy version{' '}
        <code>{d.policy_version ?? '—'}</code>
      </p>
      {d.reasoning?.length ? (
        <ol>
          {d.reasoning.map((r, i) => (
            <li key={i}>{r}</li>
          ))}
        </ol>
      ) : null}
      <Table caption="rule_trace: every check, in order" showCaption>
        <thead>
          <tr>
            <th scope="col">check</th>
            <th scope="col">outcome</th>
            <th scope="col">rule</th>
            <th scope="col">detail</th>
          </tr>
        </thead>
        <tbody>
          {(d.rule_trace ?? []).map((t, i) => (
            <tr key={i} class={t.outcome === 'fail' ? 'row-bad' : ''}>
              <td>{t.check}</td>
              <td>
                <Badge value={t.outcome} />
              </td>
              <td>
                <code>{t.rule ?? ''}</code>
              </td>
              <td>{t.detail ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </Table>
    </>
  );
}

/** One call's trace: every stored event, the decision with its rule_trace, masked arguments and result. */
export function TracePage() {
  const { params } = useRoute();
  const id = params.id ?? '';
  const trace = useLoad(() => api<TraceResult>(`/api/trace/${encodeURIComponent(id)}`), [id]);
  return (
    <Page title={`Trace ${id.slice(0, 16)}`}>
      <Async loaded={trace} what="the trace">
        {(t) => {
          if (!t.events.length) return <Empty>No stored events for this trace (yet).</Empty>;
          const completed = t.events.find((e) => short(e.subject) === 'toolcall.completed');
          const c = data(completed);
          const execution = (c.execution ??
            data(t.events.find((e) => short(e.subject) === 'toolcall.executed'))) as Record<
            string,
            unknown
          >;
          const decision = decisionOf(t.events);
          return (
            <>
              <Card title="The call">
                <dl class="facts">
                  <dt>tool</dt>
                  <dd>
                    <code>{String(c.tool ?? '—')}</code>
                  </dd>
                  <dt>agent</dt>
                  <dd>{String(c.agent_id ?? '—')}</dd>
                  <dt>session</dt>
                  <dd>{String(c.session_id ?? '—')}</dd>
                  <dt>outcome</dt>
                  <dd>{c.outcome ? <Badge value={String(c.outcome)} /> : '—'}</dd>
                  <dt>project</dt>
                  <dd>{t.events[0]!.project}</dd>
                </dl>
                <h3>Arguments (masked)</h3>
                <Json value={c.arguments ?? null} label="arguments, masked" />
                <h3>Result (masked)</h3>
                {execution && 'result' in execution ? (
                  <Json value={execution.result} label="result, masked" />
                ) : (
                  <Empty>No result: the call did not run.</Empty>
                )}
              </Card>
              <Card title="Decision">
                {decision ? <RuleTrace d={decision} /> : <Empty>No decision was made.</Empty>}
              </Card>
              <Card title="Events">
                <ol class="events">
                  {t.events.map((e) => (
                    <li key={e.event_id}>
                      <details>
                        <summary>
                          <code>{short(e.subject)}</code> from {e.source} ·{' '}
                          <Time iso={e.occurred_at} />
                        </summary>
                        <Json value={e.data} label={`${short(e.subject)} event data`} />
                      </details>
                    </li>
                  ))}
                </ol>
              </Card>
            </>
          );
        }}
      </Async>
    </Page>
  );
}
