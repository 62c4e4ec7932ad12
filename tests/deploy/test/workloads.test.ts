import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { parse } from 'yaml';
import { containers } from '../src/kustomize.js';
import { matches } from '../src/network-policy.js';
import {
  byKind,
  container,
  deployment,
  named,
  pods,
  quantity,
  rendered,
  ROOT,
  SERVICES,
  TARGETS,
  type Target,
} from './support.js';

/** The variable that sets the port each service listens on (and answers /healthz on). */
const PORT_VARIABLE: Record<string, string> = { ingress: 'PORT', federation: 'FEDERATION_PORT' };

describe.each(Object.keys(TARGETS) as Target[])('%s', (target) => {
  const objects = () => rendered(target);

  it('runs each service as a Deployment, ready on GET /healthz at the port it listens on, alive while that port accepts connections, with requests and a memory limit', () => {
    const objs = objects();
    expect(byKind(objs, 'Deployment').map((d) => d.metadata.name)).toEqual(SERVICES);
    for (const name of SERVICES) {
      const c = container(deployment(objs, name));
      const ready = c.readinessProbe?.httpGet;
      expect({ name, path: ready?.path }).toEqual({ name, path: '/healthz' });
      const port = c.ports?.find((p) => p.name === ready?.port || p.containerPort === ready?.port);
      const listens = c.env?.find((e) => e.name === (PORT_VARIABLE[name] ?? 'HEALTH_PORT'));
      expect({ name, listens: listens?.value }).toEqual({
        name,
        listens: `${port?.containerPort}`,
      });
      // A dependency outage makes a pod unready, never restarted (deploy/README.md).
      expect({ name, live: c.livenessProbe }).toMatchObject({
        name,
        live: { tcpSocket: { port: ready?.port } },
      });
      expect({ name, resources: c.resources }).toMatchObject({
        name,
        resources: {
          requests: { cpu: expect.anything(), memory: expect.anything() },
          limits: { memory: expect.anything() },
        },
      });
    }
  });

  it('gives each Deployment one HPA (autoscaling/v2, CPU utilisation) that owns its replica count, and one PDB that selects only its pods and lets a drain go on', () => {
    const objs = objects();
    const hpas = byKind<IHorizontalPodAutoscaler>(objs, 'HorizontalPodAutoscaler');
    const pdbs = byKind<IPodDisruptionBudget>(objs, 'PodDisruptionBudget');
    const allPods = pods(objs);
    for (const d of byKind<IDeployment>(objs, 'Deployment')) {
      const name = d.metadata.name;
      // A replica count in the Deployment would fight the HPA on every apply.
      expect({ name, replicas: d.spec?.replicas }).toEqual({ name, replicas: undefined });
      const mine = hpas.filter(
        (h) => h.spec?.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === name,
      );
      expect({ name, hpas: mine.length }).toEqual({ name, hpas: 1 });
      const hpa = mine[0]!;
      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec?.metrics).toEqual([
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ]);
      const min = hpa.spec?.minReplicas ?? 1;
      expect(hpa.spec!.maxReplicas).toBeGreaterThanOrEqual(min);
      // Utilisation is measured against the CPU request.
      expect(quantity(container(d).resources?.requests?.cpu)).toBeGreaterThan(0);

      const budgets = pdbs.filter((p) =>
        matches(p.spec?.selector ?? {}, d.spec?.template.metadata?.labels ?? {}),
      );
      expect({ name, pdbs: budgets.length }).toEqual({ name, pdbs: 1 });
      const pdb = budgets[0]!;
      expect(pdb.apiVersion).toBe('policy/v1');
      const others = allPods.filter(
        (p) => p.name !== name && matches(pdb.spec!.selector!, p.labels),
      );
      expect({ name, alsoSelects: others.map((p) => p.name) }).toEqual({ name, alsoSelects: [] });
      // A budget that allows no eviction at the minimum replica count would block node drains.
      const mayEvict =
        pdb.spec?.maxUnavailable !== undefined
          ? Number(pdb.spec.maxUnavailable) >= 1
          : min - Number(pdb.spec?.minAvailable) >= 1;
      expect({ name, mayEvict }).toEqual({ name, mayEvict: true });
    }
  });

  it('runs the one gateway image of the kustomization in all six services, and no container on an untagged or :latest image', () => {
    const objs = objects();
    const images = containers(objs).map((c) => c.image ?? '');
    for (const image of images) expect(image).toMatch(/(?::(?!latest$)[\w.-]+|@sha256:\w+)$/);
    const gateway = SERVICES.map((s) => container(deployment(objs, s)).image);
    expect(gateway).toEqual(SERVICES.map(() => expectedGatewayImage(target)));
  });

  it('takes credentials from Secrets and config from ConfigMaps, and every key it refers to exists', () => {
    const objs = objects();
    const secrets = byKind<{ stringData?: Record<string, string>; data?: Record<string, string> }>(
      objs,
      'Secret',
    );
    const secretKeys = new Map(
      secrets.map((s) => [s.metadata.name, { ...s.data, ...s.stringData }] as const),
    );
    const configMaps = new Map(
      byKind<{ data?: Record<string, string> }>(objs, 'ConfigMap').map((c) => [
        c.metadata.name,
        c.data ?? {},
      ]),
    );
    const secretValues = [...secretKeys.values()].flatMap((s) => Object.values(s)).filter(Boolean);
    const secretNames = new Set([...secretKeys.values()].flatMap((s) => Object.keys(s)));
    for (const [name, data] of configMaps) {
      for (const [key, value] of Object.entries(data)) {
        expect({ name, key, isSecret: secretNames.has(key) }).toEqual({
          name,
          key,
          isSecret: false,
        });
        expect({ name, key, credential: /:\/\/[^/\s:@]+:[^/\s@]+@/.test(value) }).toEqual({
          name,
          key,
          credential: false,
        });
        for (const secret of secretValues) expect(value).not.toContain(secret);
      }
    }

    const workloads = [
      ...byKind<IDeployment>(objs, 'Deployment'),
      ...byKind<IStatefulSet>(objs, 'StatefulSet'),
    ];
    for (const w of workloads) {
      const spec = w.spec!.template.spec!;
      for (const c of spec.containers) {
        for (const e of c.env ?? []) {
          const where = `${w.metadata.name} env ${e.name}`;
          // A credential is never written into a manifest's env.
          if (secretNames.has(e.name) || /(?:KEY|TOKEN|PASSWORD|SECRET)$/.test(e.name))
            expect({ where, inline: e.value }).toEqual({ where, inline: undefined });
          const s = e.valueFrom?.secretKeyRef;
          if (s && !s.optional)
            expect({ where, found: s.key in (secretKeys.get(s.name!) ?? {}) }).toEqual({
              where,
              found: true,
            });
          const m = e.valueFrom?.configMapKeyRef;
          if (m && !m.optional)
            expect({ where, found: m.key in (configMaps.get(m.name!) ?? {}) }).toEqual({
              where,
              found: true,
            });
        }
        for (const from of c.envFrom ?? []) {
          if (from.configMapRef) expect(configMaps.has(from.configMapRef.name!)).toBe(true);
          if (from.secretRef) expect(secretKeys.has(from.secretRef.name!)).toBe(true);
        }
      }
      for (const v of spec.volumes ?? []) {
        const where = `${w.metadata.name} volume ${v.name}`;
        if (v.configMap) {
          const data = configMaps.get(v.configMap.name!);
          const missing = (v.configMap.items ?? []).filter((i) => !data || !(i.key in data));
          expect({ where, exists: !!data, missing }).toEqual({ where, exists: true, missing: [] });
        }
        // The one Secret created outside the kustomization: the audit's signing key (deploy/README.md).
        if (v.secret && v.secret.secretName !== 'sg-audit-signing-key')
          expect({ where, exists: secretKeys.has(v.secret.secretName!) }).toEqual({
            where,
            exists: true,
          });
      }
    }
  });
});

describe('the overlays', () => {
  it('dev: one pod per service, less CPU requested, and the three NATS servers may share a node', () => {
    const objs = rendered('dev');
    for (const h of byKind<IHorizontalPodAutoscaler>(objs, 'HorizontalPodAutoscaler'))
      expect({ name: h.metadata.name, min: h.spec?.minReplicas }).toEqual({
        name: h.metadata.name,
        min: 1,
      });
    for (const s of SERVICES)
      expect(quantity(container(deployment(objs, s)).resources?.requests?.cpu)).toBeLessThan(
        quantity(container(deployment(rendered('base'), s)).resources?.requests?.cpu),
      );
    const nats = named<IStatefulSet>(objs, 'StatefulSet', 'nats');
    const antiAffinity = nats.spec?.template.spec?.affinity?.podAntiAffinity;
    expect(antiAffinity?.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(antiAffinity?.preferredDuringSchedulingIgnoredDuringExecution).toHaveLength(1);
  });

  it('production: at least 3 pods per service, each with more CPU and memory than the base, from your registry', () => {
    const objs = rendered('production');
    const base = rendered('base');
    for (const h of byKind<IHorizontalPodAutoscaler>(objs, 'HorizontalPodAutoscaler'))
      expect(h.spec?.minReplicas).toBeGreaterThanOrEqual(3);
    for (const s of SERVICES) {
      const mine = container(deployment(objs, s)).resources;
      const theirs = container(deployment(base, s)).resources;
      for (const field of ['cpu', 'memory'])
        expect(quantity(mine?.requests?.[field])).toBeGreaterThan(
          quantity(theirs?.requests?.[field]),
        );
      expect(quantity(mine?.limits?.memory)).toBeGreaterThan(quantity(theirs?.limits?.memory));
    }
    expect(expectedGatewayImage('production')).toMatch(/\//);
  });
});

interface ImageEntry {
  name: string;
  newName?: string;
  newTag?: string;
}

/** The gateway's image as the kustomization files say: the overlay's entry over the base's. */
function expectedGatewayImage(target: Target): string {
  const entry = (dir: string): ImageEntry | undefined => {
    const k = parse(readFileSync(join(ROOT, dir, 'kustomization.yaml'), 'utf8')) as {
      images?: ImageEntry[];
    };
    return k.images?.find((i) => i.name === 'securegateway');
  };
  const base = entry(TARGETS.base);
  const overlay = target === 'base' ? undefined : entry(TARGETS[target]);
  expect(base?.newTag).toBeDefined();
  return `${overlay?.newName ?? base?.newName ?? 'securegateway'}:${overlay?.newTag ?? base?.newTag}`;
}
