import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { K8sObject } from '../src/kustomize.js';
import { admits, type Source } from '../src/network-policy.js';
import { byKind, NAMESPACE, pods, rendered, SERVICES, TARGETS, type Target } from './support.js';

/** Every pod port that a connection from `source` may reach, as "workload:port". */
function reachable(objects: K8sObject[], source: Source): string[] {
  const policies = byKind<INetworkPolicy>(objects, 'NetworkPolicy');
  return pods(objects)
    .flatMap((pod) => pod.ports.map((p) => ({ pod, port: p.containerPort })))
    .filter(({ pod, port }) => admits(policies, pod, port, source))
    .map(({ pod, port }) => `${pod.name}:${port}`)
    .sort();
}

const PUBLIC = ['federation:8094', 'ingress:8080'];
const label = (name: string) => ({ 'app.kubernetes.io/name': name });

describe.each(Object.keys(TARGETS) as Target[])('%s: the NetworkPolicies', (target) => {
  const objects = () => rendered(target);

  it('let only the ingress (8080) and the federation service (8094) be reached from outside the namespace', () => {
    const objs = objects();
    // A client outside the cluster, through a LoadBalancer or an Ingress controller's node port.
    expect(reachable(objs, {})).toEqual(PUBLIC);
    // A pod of another namespace, even one that carries our labels.
    expect(reachable(objs, { namespace: 'elsewhere', podLabels: label('policy') })).toEqual(PUBLIC);
    expect(
      reachable(objs, {
        namespace: 'tenants',
        namespaceLabels: { 'app.kubernetes.io/part-of': 'securegateway' },
        podLabels: { 'app.kubernetes.io/part-of': 'securegateway' },
      }),
    ).toEqual(PUBLIC);
  });

  it('let every service reach NATS, and only the NATS servers reach each other on the route port', () => {
    const objs = objects();
    for (const service of SERVICES) {
      const from = { namespace: NAMESPACE, podLabels: { ...label(service) } };
      expect({ service, reaches: reachable(objs, from) }).toEqual({
        service,
        reaches: ['federation:8094', 'ingress:8080', 'nats:4222'],
      });
    }
    expect(reachable(objs, { namespace: NAMESPACE, podLabels: label('nats') })).toEqual([
      'federation:8094',
      'ingress:8080',
      'nats:4222',
      'nats:6222',
    ]);
  });

  it('let Prometheus in the namespace monitoring scrape every metrics port, and nothing else', () => {
    const objs = objects();
    const from = { namespace: 'monitoring', podLabels: label('prometheus') };
    expect(reachable(objs, from)).toEqual([
      'analytics:8095',
      'audit:8093',
      'executor:8092',
      'federation:8094',
      'ingress:8080',
      'nats:8222',
      'policy:8091',
    ]);
  });
});

describe('the NetworkPolicy check', () => {
  it('fails when a rule loses its `from`: the ports it opens are open to everyone', () => {
    const objs = rendered('base');
    const scrape = objs.find((o) => o.metadata.name === 'prometheus-scrape') as INetworkPolicy;
    delete scrape.spec!.ingress![0]!.from;
    expect(reachable(objs, {})).toEqual(
      expect.arrayContaining(['audit:8093', 'nats:8222', 'policy:8091']),
    );
  });

  it('fails without the default deny: a pod that no other policy selects is open', () => {
    const withDebugPod = (objs: K8sObject[]) => [
      ...objs,
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'debug', namespace: NAMESPACE },
        spec: {
          template: {
            metadata: { labels: label('debug') },
            spec: { containers: [{ name: 'debug', ports: [{ containerPort: 9000 }] }] },
          },
        },
      },
    ];
    const objs = withDebugPod(rendered('base'));
    expect(reachable(objs, {})).toEqual(PUBLIC);
    const open = objs.filter((o) => o.metadata.name !== 'default-deny-ingress');
    expect(reachable(open, {})).toEqual(['debug:9000', ...PUBLIC]);
  });
});
