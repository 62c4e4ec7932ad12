import type { Simulation } from './types';
import { Badge, Empty, number, Table } from './ui';

type SimulatedCall = Simulation['calls'][number];

/** A simulation's counts, as a sentence. */
export function SimulationSummary({
  summary: s,
  truncated,
}: {
  summary: Simulation['summary'];
  truncated: boolean;
}) {
  return (
    <p>
      {number(s.calls)} calls replayed, <strong>{number(s.changed)} changed</strong> (allow→deny{' '}
      {number(s.allow_to_deny)}, deny→allow {number(s.deny_to_allow)}, other code{' '}
      {number(s.code_changed)}, approval {number(s.approval_changed)}); it would allow{' '}
      {number(s.simulated_allowed)} and deny {number(s.simulated_denied)}.
      {truncated && ' Only the first calls of the window were replayed.'}
    </p>
  );
}

/** Simulated calls in a table, the ones decided differently first. */
export function SimulatedCalls({ calls }: { calls: SimulatedCall[] }) {
  if (calls.length === 0) return <Empty>No calls to show.</Empty>;
  const ordered = [
    ...calls.filter((c) => c.difference !== 'none'),
    ...calls.filter((c) => c.difference === 'none'),
  ];
  return (
    <Table caption="Simulated calls, changed ones first">
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">tool</th>
          <th scope="col">recorded</th>
          <th scope="col">simulated</th>
          <th scope="col">difference</th>
          <th scope="col">rule</th>
        </tr>
      </thead>
      <tbody>
        {ordered.map((c) => (
          <tr key={c.index} class={c.difference === 'none' ? '' : 'row-warn'}>
            <td>{c.index + 1}</td>
            <td>
              <code>{c.tool}</code>
            </td>
            <td>{c.recorded ? <Badge value={c.recorded.outcome} /> : '—'}</td>
            <td>
              <Badge
                value={
                  !c.simulated.allowed
                    ? 'denied'
                    : c.simulated.requires_approval
                      ? 'pending_approval'
                      : 'allowed'
                }
              />{' '}
              {c.simulated.code && <code>{c.simulated.code}</code>}
            </td>
            <td>{c.difference}</td>
            <td>
              <code>{c.simulated.rule ?? ''}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

/** What a simulation found: against what, its summary, then the calls. */
export function SimulationView({ sim }: { sim: Simulation }) {
  return (
    <div>
      <p>
        Against the <strong>{sim.against.kind}</strong> policy (
        <code>{sim.against.version.slice(0, 12)}</code>)
        {sim.omitted > 0 && `; ${sim.omitted} unchanged calls are not listed`}.
      </p>
      <SimulationSummary summary={sim.summary} truncated={sim.truncated} />
      <SimulatedCalls calls={sim.calls} />
    </div>
  );
}
