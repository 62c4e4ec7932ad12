import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { Table } from './ui';

export interface Series {
  label: string;
  values: Array<number | null>;
  color: string;
  unit: string;
}

const fmt = (n: number | null | undefined, unit: string) =>
  n === null || n === undefined
    ? '—'
    : `${n.toLocaleString(undefined, { maximumFractionDigits: 2 })} ${unit}`;

/**
 * A time series chart (uPlot). The numbers are also in a table under it, for screen readers
 * and for reading exact values.
 */
export function TimeChart({
  title,
  times,
  series,
}: {
  title: string;
  /** ISO times of the points. */
  times: string[];
  series: Series[];
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const data: uPlot.AlignedData = [
      times.map((t) => Date.parse(t) / 1000),
      ...series.map((s) => s.values),
    ];
    const plot = new uPlot(
      {
        width: Math.max(280, el.clientWidth),
        height: 220,
        scales: { x: { time: true } },
        axes: [{}, { values: (_u, ticks) => ticks.map((t) => t.toLocaleString()) }],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            value: (_u: uPlot, v: number | null) => fmt(v, s.unit),
          })),
        ],
      },
      data,
      el,
    );
    const resize = new ResizeObserver(() =>
      plot.setSize({ width: Math.max(280, el.clientWidth), height: 220 }),
    );
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [times, series]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} aria-hidden="true" />
      <details>
        <summary>{title}: the numbers</summary>
        <Table caption={`${title}, by time`}>
          <thead>
            <tr>
              <th scope="col">time</th>
              {series.map((s) => (
                <th key={s.label} scope="col">
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {times.map((t, i) => (
              <tr key={t}>
                <td>{new Date(t).toLocaleString()}</td>
                {series.map((s) => (
                  <td key={s.label}>{fmt(s.values[i], s.unit)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </Table>
      </details>
    </figure>
  );
}
