import { useState } from 'preact/hooks';
import { useSession } from './session';
import { Select } from './ui';

const KEY = 'sg-dash-project';

/** The project the pages look at: chosen once, remembered for the browser tab. */
export function useProject(): [string, (p: string) => void] {
  const { projects } = useSession();
  const stored = sessionStorage.getItem(KEY);
  const [project, setProject] = useState(
    stored && projects.includes(stored) ? stored : (projects[0] ?? 'default'),
  );
  return [
    project,
    (p: string) => {
      sessionStorage.setItem(KEY, p);
      setProject(p);
    },
  ];
}

export function ProjectPicker({ value, onChange }: { value: string; onChange(p: string): void }) {
  const { projects } = useSession();
  return (
    <Select
      label="Project"
      value={value}
      options={(projects.length ? projects : [value]).map((p) => [p, p])}
      onChange={onChange}
    />
  );
}

/** A window ending now: its start and end as ISO times, and the bucket the analytics use. */
export const WINDOWS: Record<string, { label: string; ms: number; bucket: 'hour' | 'day' }> = {
  '1h': { label: 'Last hour', ms: 3_600_000, bucket: 'hour' },
  '24h': { label: 'Last 24 hours', ms: 86_400_000, bucket: 'hour' },
  '7d': { label: 'Last 7 days', ms: 7 * 86_400_000, bucket: 'hour' },
  '30d': { label: 'Last 30 days', ms: 30 * 86_400_000, bucket: 'day' },
};

export function windowOf(key: string): {
  from: string;
  to: string;
  bucket: 'hour' | 'day';
  seconds: number;
} {
  const w = WINDOWS[key] ?? WINDOWS['24h']!;
  const to = new Date();
  return {
    from: new Date(to.getTime() - w.ms).toISOString(),
    to: to.toISOString(),
    bucket: w.bucket,
    seconds: w.ms / 1000,
  };
}

export function WindowPicker({ value, onChange }: { value: string; onChange(w: string): void }) {
  return (
    <Select
      label="Window"
      value={value}
      options={Object.entries(WINDOWS).map(([k, w]) => [k, w.label])}
      onChange={onChange}
    />
  );
}
