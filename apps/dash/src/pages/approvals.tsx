import { useState } from 'preact/hooks';
import { api } from '../api';
import { useCan } from '../session';
import type { ApprovalView } from '../types';
import {
  Async,
  Badge,
  Cards,
  DecisionForm,
  Json,
  Page,
  Select,
  Time,
  useAction,
  useLoad,
} from '../ui';

interface ApprovalsPage {
  approvals: ApprovalView[];
  next_cursor: string | null;
}
type Approval = ApprovalView & { risk_score?: number | null; comment?: string | null };

const STATUSES: Array<[string, string]> = [
  ['pending', 'pending'],
  ['executed', 'executed'],
  ['failed', 'failed'],
  ['approved', 'approved'],
  ['rejected', 'rejected'],
  ['denied', 'denied (policy changed)'],
  ['expired', 'expired'],
];

function Outcome({ a }: { a: Approval }) {
  if (!a.outcome) return null;
  return (
    <div>
      <h4>Result after it ran (HTTP {a.outcome.http_status})</h4>
      {a.outcome.error ? (
        <p>
          <code>{a.outcome.error.code}</code> {a.outcome.error.message}
        </p>
      ) : (
        <Json value={a.outcome.result ?? null} label="result of the approved call" />
      )}
    </div>
  );
}

function ApprovalCard({ a, onResolved }: { a: Approval; onResolved(): void }) {
  const can = useCan();
  const [after, setAfter] = useState<Approval | null>(null);
  const resolve = useAction(async (approved: boolean, comment: string) => {
    await api('/approve', {
      method: 'POST',
      body: {
        approval_id: a.approval_id,
        approved,
        ...(comment ? { comment } : {}),
      },
    });
    setAfter(await api<Approval>(`/api/approvals/${a.approval_id}`));
  });
  const shown = after ?? a;
  return (
    <li class="card approval">
      <h2>
        <code>{shown.tool}</code> by {shown.agent_id} <Badge value={shown.status} />
      </h2>
      <dl class="facts">
        <dt>project</dt>
        <dd>{shown.project}</dd>
        <dt>risk</dt>
        <dd>
          {shown.risk_score === null || shown.risk_score === undefined
            ? '—'
            : shown.risk_score.toFixed(2)}
        </dd>
        <dt>policy version</dt>
        <dd>
          <code>{shown.policy_version.slice(0, 16)}</code>
        </dd>
        <dt>arguments digest</dt>
        <dd>
          <code class="wrap">{shown.arguments_digest}</code>
        </dd>
        <dt>asked</dt>
        <dd>
          <Time iso={shown.created_at} />
        </dd>
        <dt>{shown.status === 'pending' ? 'expires' : 'resolved'}</dt>
        <dd>
          <Time iso={shown.status === 'pending' ? shown.expires_at : shown.resolved_at} />
          {shown.approver && ` by ${shown.approver}`}
        </dd>
        {shown.comment && (
          <>
            <dt>comment</dt>
            <dd>{shown.comment}</dd>
          </>
        )}
        <dt>trace</dt>
        <dd>
          <a href={`/dash/trace/${encodeURIComponent(shown.trace_id)}`}>
            {shown.trace_id.slice(0, 16)}…
          </a>
        </dd>
      </dl>
      <h3>The exact arguments that will run</h3>
      <Json value={shown.arguments} label="arguments of the call to approve" />
      <Outcome a={shown} />
      {shown.status === 'pending' && can('approvals.resolve') && (
        <DecisionForm
          label="Comment (kept with the decision)"
          maxLength={500}
          decisions={[
            { text: 'Approve and run', tone: 'primary', run: (c) => void resolve.run(true, c) },
            { text: 'Reject', tone: 'danger', run: (c) => void resolve.run(false, c) },
          ]}
          pending={resolve.pending}
          error={resolve.error}
          refused="Not resolved"
        />
      )}
      {after && (
        <p role="status" class="ok-note">
          {after.status === 'executed'
            ? 'Approved; the call ran.'
            : `Now ${after.status.replace(/_/g, ' ')}.`}{' '}
          <button type="button" class="link" onClick={onResolved}>
            Back to the queue
          </button>
        </p>
      )}
    </li>
  );
}

/** Calls waiting for a human: the exact call, its risk and expiry; approve or reject with a comment. */
export function ApprovalsPage() {
  const [status, setStatus] = useState('pending');
  const list = useLoad(
    () => api<ApprovalsPage>('/api/approvals', { query: { status, limit: 50 } }),
    [status],
  );
  return (
    <Page
      title="Approvals"
      actions={
        <>
          <Select label="Status" value={status} options={STATUSES} onChange={setStatus} />
          <button type="button" onClick={list.reload}>
            Refresh
          </button>
        </>
      }
    >
      <Async loaded={list} what="approvals">
        {(p) => (
          <Cards
            items={p.approvals}
            emptyTitle="Queue"
            empty={status === 'pending' ? 'Nothing waits for approval.' : `No ${status} approvals.`}
          >
            {(a) => <ApprovalCard key={a.approval_id} a={a} onResolved={list.reload} />}
          </Cards>
        )}
      </Async>
    </Page>
  );
}
