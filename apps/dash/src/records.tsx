import type { AuditRecord } from './types';
import { Badge, Empty, Table, Time } from './ui';

/** Calls as a table; each row links to its trace. */
export function RecordsTable({
  records,
  caption,
  empty,
}: {
  records: AuditRecord[];
  caption: string;
  empty: string;
}) {
  if (!records.length) return <Empty>{empty}</Empty>;
  return (
    <Table caption={caption}>
      <thead>
        <tr>
          <th scope="col">time</th>
          <th scope="col">agent</th>
          <th scope="col">tool</th>
          <th scope="col">status</th>
          <th scope="col">code</th>
          <th scope="col" class="num">
            risk
          </th>
          <th scope="col">trace</th>
        </tr>
      </thead>
      <tbody>
        {records.map((r) => (
          <tr key={r.audit_id}>
            <td>
              <Time iso={r.timestamp} />
            </td>
            <td>{r.agent_id ?? <span class="muted">—</span>}</td>
            <td>
              <code>{r.tool_name ?? '—'}</code>
            </td>
            <td>
              <Badge value={r.status} />
            </td>
            <td>{r.validation?.code ?? r.error?.code ?? <span class="muted">—</span>}</td>
            <td class="num">{r.validation ? r.validation.risk_score.toFixed(2) : '—'}</td>
            <td>
              <a href={`/dash/trace/${encodeURIComponent(r.trace_id)}`}>
                {r.trace_id.slice(0, 12)}…
                <span class="sr-only"> (trace of this {r.tool_name ?? ''} call)</span>
              </a>
            </td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}
