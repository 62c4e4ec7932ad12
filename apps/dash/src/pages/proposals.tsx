import { useState } from 'preact/hooks';
import { api } from '../api';
import { useCan } from '../session';
import { SimulatedCalls, SimulationSummary } from '../simulation';
import type { Proposal, ProposalDetail } from '../types';
import {
  Async,
  Badge,
  Cards,
  DecisionForm,
  Empty,
  Page,
  Select,
  Time,
  useAction,
  useLoad,
} from '../ui';
import { UnifiedDiff } from './policy';

function Review({ id, onDone }: { id: string; onDone(): void }) {
  const can = useCan();
  const detail = useLoad(() => api<ProposalDetail>(`/api/proposals/${id}`), [id]);
  const [done, setDone] = useState<Proposal | null>(null);
  const review = useAction(async (approve: boolean, comment: string) => {
    const p = await api<Proposal>(`/api/proposals/${id}/${approve ? 'approve' : 'reject'}`, {
      method: 'POST',
      body: comment ? { comment } : {},
    });
    setDone(p);
  });
  return (
    <Async loaded={detail} what="the proposal">
      {(p) => (
        <div class="review">
          <h3>Justification</h3>
          <blockquote>{p.justification || <span class="muted">none given</span>}</blockquote>
          <h3>Guardrails</h3>
          <ul class="plain">
            {p.guardrails.map((g) => (
              <li key={g.name}>
                <Badge value={g.pass ? 'pass' : 'fail'} /> <strong>{g.name}</strong>: {g.why}
              </li>
            ))}
          </ul>
          <h3>Change against the active policy</h3>
          <UnifiedDiff diff={p.diff} label="the proposal's diff" />
          {p.merged === null && (
            <p class="error-text">It no longer merges into the active policy.</p>
          )}
          <h3>Simulated impact (last 7 days)</h3>
          {p.simulation === null ? (
            <Empty>No simulation.</Empty>
          ) : 'error' in p.simulation ? (
            <p class="muted">{p.simulation.error}</p>
          ) : (
            <>
              <SimulationSummary
                summary={p.simulation.summary}
                truncated={p.simulation.truncated}
              />
              {p.simulation.changed.length > 0 && <SimulatedCalls calls={p.simulation.changed} />}
            </>
          )}
          {p.status === 'pending' && !done && can('proposals.review') && (
            <DecisionForm
              label="Review comment"
              maxLength={2000}
              decisions={[
                { text: 'Approve', tone: 'primary', run: (c) => void review.run(true, c) },
                { text: 'Reject', tone: 'danger', run: (c) => void review.run(false, c) },
              ]}
              pending={review.pending}
              error={review.error}
              refused="Review refused"
            />
          )}
          {done && (
            <p role="status" class="ok-note">
              {done.status === 'approved'
                ? `Approved: active as version ${done.version_id?.slice(0, 8) ?? ''}.`
                : 'Rejected.'}{' '}
              <button type="button" class="link" onClick={onDone}>
                Back to the list
              </button>
            </p>
          )}
        </div>
      )}
    </Async>
  );
}

/** Policy proposals from agents and admins: diff, justification, guardrails, simulated impact. */
export function ProposalsPage() {
  const [status, setStatus] = useState('pending');
  const [open, setOpen] = useState<string | null>(null);
  const list = useLoad(
    () => api<{ proposals: Proposal[] }>('/api/proposals', { query: { status } }),
    [status],
  );
  return (
    <Page
      title="Proposals"
      actions={
        <Select
          label="Status"
          value={status}
          options={[
            ['pending', 'pending'],
            ['approved', 'approved'],
            ['rejected', 'rejected'],
          ]}
          onChange={(s) => {
            setOpen(null);
            setStatus(s);
          }}
        />
      }
    >
      <Async loaded={list} what="proposals">
        {(p) => (
          <Cards items={p.proposals} emptyTitle="Queue" empty={`No ${status} proposals.`}>
            {(x) => (
              <li key={x.proposal_id} class="card">
                <h2>
                  Rules for <code>{x.model_id}</code> in {x.project} <Badge value={x.status} />
                </h2>
                <p class="muted small">
                  by {x.proposer} ({x.via}) · <Time iso={x.created_at} />
                  {x.reviewer && ` · reviewed by ${x.reviewer}`}
                  {x.comment && `: “${x.comment}”`}
                </p>
                <button
                  type="button"
                  aria-expanded={open === x.proposal_id}
                  onClick={() => setOpen(open === x.proposal_id ? null : x.proposal_id)}
                >
                  {open === x.proposal_id ? 'Close' : 'Review'}
                </button>
                {open === x.proposal_id && (
                  <Review
                    id={x.proposal_id}
                    onDone={() => {
                      setOpen(null);
                      list.reload();
                    }}
                  />
                )}
              </li>
            )}
          </Cards>
        )}
      </Async>
    </Page>
  );
}
