import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IService } from 'kubernetes-models/v1/Service';
import { matches } from '../src/network-policy.js';
import {
  byKind,
  container,
  deployment,
  named,
  rendered,
  SERVICES,
  TARGETS,
  type Target,
} from './support.js';

describe.each(Object.keys(TARGETS) as Target[])('%s: NATS', (target) => {
  const objects = () => rendered(target);

  it('is a 3-server JetStream cluster whose routes are its own pods, behind a headless Service', () => {
    const objs = objects();
    const nats = named<IStatefulSet>(objs, 'StatefulSet', 'nats');
    const ns = nats.metadata.namespace;
    expect(nats.spec?.replicas).toBe(3);
    const headless = named<IService>(objs, 'Service', nats.spec!.serviceName!);
    expect(headless.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(headless.spec?.ports?.map((p) => p.port)).toEqual(expect.arrayContaining([4222, 6222]));

    const c = nats.spec!.template.spec!.containers[0]!;
    const volume = nats.spec!.template.spec!.volumes!.find((v) => v.configMap)!;
    const mount = c.volumeMounts!.find((m) => m.name === volume.name)!;
    expect(c.command).toEqual(['nats-server', '--config', `${mount.mountPath}/nats.conf`]);
    const conf = named<IConfigMap>(objs, 'ConfigMap', volume.configMap!.name!).data!['nats.conf']!;
    expect(conf).toMatch(/^jetstream \{\n\s+store_dir: \/data$/m);
    // Each server names itself after its pod: JetStream needs a distinct name per server.
    expect(conf).toMatch(/^server_name: \$POD_NAME$/m);
    expect(c.env).toContainEqual({
      name: 'POD_NAME',
      valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    const routes = /routes: \[([^\]]*)\]/.exec(conf)?.[1]?.trim().split(/\s+/);
    expect(routes).toEqual(
      [0, 1, 2].map(
        (i) => `nats://nats-${i}.${headless.metadata.name}.${ns}.svc.cluster.local:6222`,
      ),
    );
    expect(conf).toMatch(/^\s+listen: 0\.0\.0\.0:6222$/m);
  });

  it('has a PDB that keeps a quorum (2 of 3) through drains', () => {
    const objs = objects();
    const nats = named<IStatefulSet>(objs, 'StatefulSet', 'nats');
    const budgets = byKind<IPodDisruptionBudget>(objs, 'PodDisruptionBudget').filter((p) =>
      matches(p.spec!.selector!, nats.spec!.template.metadata!.labels!),
    );
    expect(budgets.map((b) => b.spec?.maxUnavailable)).toEqual([1]);
  });

  it('gets GW_EVENTS with 3 replicas from every service, over the nats Service', () => {
    const objs = objects();
    const env = named<IConfigMap>(objs, 'ConfigMap', 'sg-env').data!;
    expect(env.EVENTS_REPLICAS).toBe('3');
    expect(env.NATS_URL).toBe('nats://nats:4222');
    const client = named<IService>(objs, 'Service', 'nats');
    expect(client.spec?.ports?.map((p) => p.port)).toEqual([4222]);
    // A service without the variable would create (or update) the stream with 1 replica.
    for (const service of SERVICES) {
      const c = container(deployment(objs, service));
      expect({ service, envFrom: c.envFrom }).toEqual({
        service,
        envFrom: [{ configMapRef: { name: 'sg-env' } }],
      });
      const overrides = (c.env ?? []).filter((e) =>
        ['EVENTS_REPLICAS', 'NATS_URL'].includes(e.name),
      );
      expect({ service, overrides }).toEqual({ service, overrides: [] });
    }
  });
});
