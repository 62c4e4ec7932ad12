import { useMemo, useState } from 'preact/hooks';
import { api } from '../api';
import { ProjectPicker, useProject, WindowPicker, windowOf } from '../project';
import type { ShadowReport } from '../types';
import { Async, Card, Empty, number, Page, percent, Table, useLoad } from '../ui';

/** The preview policy (shadow mode) against the live one: where they disagree, and why. */
export function ShadowPage() {
  const [project, setProject] = useProject();
  const [win, setWin] = useState('7d');
  const w = useMemo(() => windowOf(win), [win]);
  const report = useLoad(
    () => api<ShadowReport>('/api/shadow/report', { query: { project, from: w.from, to: w.to } }),
    [project, w],
  );
  return (
    <Page
      title="Shadow report"
      actions={
        <>
          <ProjectPicker value={project} onChange={setProject} />
          <WindowPicker value={win} onChange={setWin} />
        </>
      }
    >
      <Async loaded={report} what="the shadow report">
        {(r) =>
          r.evaluated === 0 ? (
            <Card title="No shadow evaluations">
              <Empty>
                No call was evaluated by a preview policy in this window. A policy with a preview
                runs in shadow mode (docs/policy.md).
              </Empty>
            </Card>
          ) : (
            <>
              <dl class="stats">
                <div class="stat">
                  <dt>Evaluated</dt>
                  <dd>{number(r.evaluated)}</dd>
                </div>
                <div class="stat">
                  <dt>Differing</dt>
                  <dd>{number(r.differing)}</dd>
                </div>
                <div class="stat">
                  <dt>Agreement</dt>
                  <dd>{percent(r.agreement_rate)}</dd>
                </div>
              </dl>
              <div class="grid two">
                <Card title="By tool">
                  <Table caption="Differences by tool">
                    <thead>
                      <tr>
                        <th scope="col">tool</th>
                        <th scope="col" class="num">
                          evaluated
                        </th>
                        <th scope="col" class="num">
                          differing
                        </th>
                        <th scope="col" class="num">
                          allow→deny
                        </th>
                        <th scope="col" class="num">
                          deny→allow
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {r.by_tool.map((t) => (
                        <tr key={t.tool}>
                          <td>
                            <code>{t.tool}</code>
                          </td>
                          <td class="num">{number(t.evaluated)}</td>
                          <td class="num">{number(t.differing)}</td>
                          <td class="num">{number(t.allow_to_deny)}</td>
                          <td class="num">{number(t.deny_to_allow)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </Table>
                </Card>
                <Card title="By rule of the preview">
                  {r.by_rule.length ? (
                    <ul class="plain">
                      {r.by_rule.map((x) => (
                        <li key={x.rule}>
                          <code>{x.rule}</code>: {number(x.differing)}
                        </li>
                      ))}
                    </ul>
                  ) : (
                    <Empty>No differences.</Empty>
                  )}
                </Card>
              </div>
              <Card title="Examples">
                {r.examples.length ? (
                  <Table caption="Examples of differing decisions">
                    <thead>
                      <tr>
                        <th scope="col">tool</th>
                        <th scope="col">agent</th>
                        <th scope="col">live</th>
                        <th scope="col">preview</th>
                        <th scope="col">rule</th>
                        <th scope="col">trace</th>
                      </tr>
                    </thead>
                    <tbody>
                      {r.examples.map((e) => (
                        <tr key={e.trace_id}>
                          <td>
                            <code>{e.tool}</code>
                          </td>
                          <td>{e.agent_id}</td>
                          <td>{e.live}</td>
                          <td>{e.shadow}</td>
                          <td>
                            <code>{e.rule}</code>
                          </td>
                          <td>
                            <a href={`/dash/trace/${encodeURIComponent(e.trace_id)}`}>
                              {e.trace_id.slice(0, 12)}…
                            </a>
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </Table>
                ) : (
                  <Empty>No examples.</Empty>
                )}
              </Card>
            </>
          )
        }
      </Async>
    </Page>
  );
}
