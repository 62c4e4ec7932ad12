import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';

/**
 * Whether NetworkPolicies let a connection in, by the rules of networking.k8s.io/v1 for
 * ingress: a pod that no policy selects takes everything; a selected pod takes what one of its
 * policies' rules allows (a rule without `from` allows any source, without `ports` any port).
 * ipBlock is not supported (deploy/ uses none): a policy with one is refused.
 */

/** Where a connection comes from: a pod of a namespace, or (no pod labels) outside the cluster. */
export interface Source {
  namespace?: string;
  namespaceLabels?: Record<string, string>;
  podLabels?: Record<string, string>;
}

/** A pod, with its container ports (named ports resolve through them). */
export interface Pod {
  namespace: string;
  labels: Record<string, string>;
  ports: { name?: string; containerPort: number }[];
}

export function admits(policies: INetworkPolicy[], pod: Pod, port: number, from: Source): boolean {
  const selecting = policies.filter(
    (p) =>
      p.metadata?.namespace === pod.namespace &&
      matches(p.spec?.podSelector ?? {}, pod.labels) &&
      (p.spec?.policyTypes ?? ['Ingress']).includes('Ingress'),
  );
  if (selecting.length === 0) return true;
  return selecting.some((p) =>
    (p.spec?.ingress ?? []).some(
      (rule) =>
        (rule.from === undefined ||
          rule.from.length === 0 ||
          rule.from.some((peer) => peerMatches(peer, p.metadata?.namespace, from))) &&
        (rule.ports === undefined ||
          rule.ports.length === 0 ||
          rule.ports.some((p) => portMatches(p, port, pod))),
    ),
  );
}

type Spec = NonNullable<INetworkPolicy['spec']>;
type Peer = NonNullable<Spec['ingress']>[number]['from'];
type LabelSelector = Spec['podSelector'];

function peerMatches(peer: NonNullable<Peer>[number], policyNs: string | undefined, from: Source) {
  if (peer.ipBlock) throw new Error('ipBlock is not supported by this evaluator');
  // Pod and namespace selectors select pods only, never addresses outside the cluster.
  if (from.podLabels === undefined || from.namespace === undefined) return false;
  const nsLabels = { ...from.namespaceLabels, 'kubernetes.io/metadata.name': from.namespace };
  const nsOk = peer.namespaceSelector
    ? matches(peer.namespaceSelector, nsLabels)
    : from.namespace === policyNs;
  return nsOk && (peer.podSelector ? matches(peer.podSelector, from.podLabels) : true);
}

function portMatches(
  p: { port?: number | string; endPort?: number; protocol?: string },
  port: number,
  pod: Pod,
): boolean {
  if ((p.protocol ?? 'TCP') !== 'TCP') return false;
  if (p.port === undefined) return true;
  const number =
    typeof p.port === 'number' ? p.port : pod.ports.find((c) => c.name === p.port)?.containerPort;
  if (number === undefined) return false;
  return p.endPort === undefined ? number === port : port >= number && port <= p.endPort;
}

export function matches(selector: LabelSelector, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    byLabels &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      const value = labels[key];
      if (operator === 'In') return value !== undefined && values.includes(value);
      if (operator === 'NotIn') return value === undefined || !values.includes(value);
      if (operator === 'Exists') return value !== undefined;
      if (operator === 'DoesNotExist') return value === undefined;
      throw new Error(`unknown selector operator ${operator}`);
    })
  );
}
