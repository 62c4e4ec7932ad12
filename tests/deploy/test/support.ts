import { resolve } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { render, type K8sObject } from '../src/kustomize.js';
import type { Pod } from '../src/network-policy.js';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const NAMESPACE = 'securegateway';
export const SERVICES = ['ingress', 'policy', 'executor', 'audit', 'federation', 'analytics'];

/** Every kustomization in deploy/: CI renders each one. */
export const TARGETS = {
  base: 'deploy/base',
  dev: 'deploy/overlays/dev',
  production: 'deploy/overlays/production',
} as const;
export type Target = keyof typeof TARGETS;

const cache = new Map<Target, K8sObject[]>();

/** The rendered objects of a target: a fresh copy, so that a test may change them. */
export function rendered(target: Target): K8sObject[] {
  if (!cache.has(target)) cache.set(target, render(resolve(ROOT, TARGETS[target])));
  return structuredClone(cache.get(target)!);
}

export function byKind<T>(objects: K8sObject[], kind: string): (T & K8sObject)[] {
  return objects.filter((o) => o.kind === kind) as (T & K8sObject)[];
}

export function named<T>(objects: K8sObject[], kind: string, name: string): T & K8sObject {
  const found = byKind<T>(objects, kind).find((o) => o.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in the render`);
  return found;
}

export function deployment(objects: K8sObject[], name: string): IDeployment & K8sObject {
  return named<IDeployment>(objects, 'Deployment', name);
}

/** The one container of a Deployment's pods (each service runs in one). */
export function container(d: IDeployment): IContainer {
  const list = d.spec?.template.spec?.containers ?? [];
  expect(list).toHaveLength(1);
  return list[0]!;
}

/** The pods that Deployments and StatefulSets make, as the NetworkPolicy check sees them. */
export function pods(objects: K8sObject[]): (Pod & { name: string })[] {
  const workloads = [
    ...byKind<IDeployment>(objects, 'Deployment'),
    ...byKind<IStatefulSet>(objects, 'StatefulSet'),
  ];
  return workloads.map((w) => ({
    name: w.metadata.name,
    namespace: w.metadata.namespace ?? 'default',
    labels: w.spec?.template.metadata?.labels ?? {},
    ports: (w.spec?.template.spec?.containers ?? []).flatMap((c) => c.ports ?? []),
  }));
}

const UNITS: Record<string, number> = {
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
};

/** A Kubernetes quantity ("250m", "512Mi", 2) as a number. */
export function quantity(q: string | number | undefined): number {
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(q ?? '');
  if (!m) throw new Error(`not a quantity this test reads: ${q}`);
  return Number(m[1]) * UNITS[m[2] ?? '']!;
}
