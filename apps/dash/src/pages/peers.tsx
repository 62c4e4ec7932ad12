import { api } from '../api';
import type { PeersReport } from '../types';
import { Async, Badge, Card, Empty, Page, Table, Time, useLoad } from '../ui';

/** Federation: the peer gateways this one trusts, and their health as last pinged. */
export function PeersPage() {
  const report = useLoad(() => api<PeersReport>('/api/federation/peers'), []);
  return (
    <Page
      title="Peers"
      actions={
        <button type="button" onClick={report.reload}>
          Refresh
        </button>
      }
    >
      <Async loaded={report} what="peers">
        {(r) => (
          <Card
            title={r.self ? `This gateway: ${r.self}` : 'This gateway has no federation identity'}
          >
            {r.peers.length ? (
              <Table caption="Peer gateways">
                <thead>
                  <tr>
                    <th scope="col">peer</th>
                    <th scope="col">state</th>
                    <th scope="col">breaker</th>
                    <th scope="col" class="num">
                      latency
                    </th>
                    <th scope="col">last ok</th>
                    <th scope="col">error</th>
                  </tr>
                </thead>
                <tbody>
                  {r.peers.map((p) => (
                    <tr key={p.peer}>
                      <td>
                        {p.peer} <span class="muted small">{p.url}</span>
                      </td>
                      <td>
                        <Badge value={p.state} />
                      </td>
                      <td>{p.breaker.replace('_', ' ')}</td>
                      <td class="num">{p.latency_ms === null ? '—' : `${p.latency_ms} ms`}</td>
                      <td>
                        <Time iso={p.last_ok_at} />
                      </td>
                      <td>{p.error ?? ''}</td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            ) : (
              <Empty>No peers configured (peers.yaml).</Empty>
            )}
          </Card>
        )}
      </Async>
    </Page>
  );
}
