import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { schemaErrors } from '../src/k8s-schema.js';
import type { K8sObject } from '../src/kustomize.js';
import { container, deployment, named, rendered, ROOT, TARGETS, type Target } from './support.js';

describe('deploy/', () => {
  it('holds a kustomization for the base and for each overlay, and CI renders each of them', () => {
    const found = readdirSync(join(ROOT, 'deploy'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('kustomization.yaml'))
      .map((f) => relative(ROOT, join(ROOT, 'deploy', f, '..')))
      .sort();
    expect(found).toEqual(Object.values(TARGETS).sort());
  });

  it.each(Object.keys(TARGETS) as Target[])(
    '%s renders, and every object passes the Kubernetes schema of its kind, with no unknown field',
    async (target) => {
      const objects = rendered(target);
      expect(new Set(objects.map((o) => o.kind))).toEqual(
        new Set([
          'Namespace',
          'Secret',
          'ConfigMap',
          'Service',
          'StatefulSet',
          'PodDisruptionBudget',
          'NetworkPolicy',
          'Deployment',
          'HorizontalPodAutoscaler',
        ]),
      );
      expect(await schemaErrors(objects)).toEqual([]);
    },
  );
});

describe('a broken manifest', () => {
  const ingress = (o: K8sObject[]) => deployment(o, 'ingress');
  const cases: [string, (objects: K8sObject[]) => void, RegExp][] = [
    [
      'replicas as text',
      (o) => Object.assign(ingress(o).spec!, { replicas: 'three' }),
      /^Deployment\/ingress: data\/spec\/replicas must be integer/,
    ],
    [
      'a container without a name',
      (o) => delete (container(ingress(o)) as { name?: string }).name,
      /^Deployment\/ingress: .*containers\/0 must have required property name$/,
    ],
    [
      'a memory limit that is no quantity',
      (o) => (container(ingress(o)).resources!.limits!.memory = 'lots'),
      /^Deployment\/ingress: .*limits\/memory must match format "quantity"/,
    ],
    [
      'an HPA without maxReplicas',
      (o) =>
        delete (
          named<IHorizontalPodAutoscaler>(o, 'HorizontalPodAutoscaler', 'policy').spec as {
            maxReplicas?: number;
          }
        ).maxReplicas,
      /^HorizontalPodAutoscaler\/policy: .*must have required property maxReplicas$/,
    ],
    [
      'a misspelt field (readinesProbe)',
      (o) => {
        const c = container(ingress(o));
        Object.assign(c, { readinesProbe: c.readinessProbe });
        delete c.readinessProbe;
      },
      /^Deployment\/ingress: .*'readinesProbe' does not exist in type 'IContainer'/,
    ],
    [
      'a field at the wrong level (a probe on the pod, not the container)',
      (o) => {
        const d: IDeployment = deployment(o, 'audit');
        Object.assign(d.spec!.template.spec!, { livenessProbe: container(d).livenessProbe });
      },
      /^Deployment\/audit: .*'livenessProbe' does not exist in type 'IPodSpec'/,
    ],
    [
      'a misspelt NetworkPolicy field (policyType)',
      (o) => {
        const p = named<INetworkPolicy>(o, 'NetworkPolicy', 'default-deny-ingress');
        Object.assign(p.spec!, { policyType: p.spec!.policyTypes });
        delete p.spec!.policyTypes;
      },
      /^NetworkPolicy\/default-deny-ingress: .*'policyType' does not exist/,
    ],
    [
      'an API version that does not exist (autoscaling/v3)',
      (o) => (named(o, 'HorizontalPodAutoscaler', 'executor').apiVersion = 'autoscaling/v3'),
      /^HorizontalPodAutoscaler\/executor: kubernetes-models has no schema for autoscaling\/v3/,
    ],
  ];

  it.each(cases)('is refused: %s', async (_name, breakIt, message) => {
    const objects = rendered('base');
    breakIt(objects);
    const errors = await schemaErrors(objects);
    expect(errors).toEqual(expect.arrayContaining([expect.stringMatching(message)]));
  });
});
