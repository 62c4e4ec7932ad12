import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { render } from './kustomize.js';

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: old
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: web
        - name: sidecar
          image: registry:5000/tools/proxy:1.0
---
apiVersion: v1
kind: Namespace
metadata:
  name: old
`;

describe('the CI kustomize renderer', () => {
  let dir: string;
  const write = (files: Record<string, string>) => {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sg-kustomize-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('renders a base through an overlay: namespace (which renames the Namespace), images, then the overlay patches and images', () => {
    write({
      'base/app.yaml': DEPLOYMENT,
      'base/kustomization.yaml': `resources: [app.yaml]
namespace: shop
images:
  - { name: web, newName: web, newTag: '1.2.3' }
  - { name: registry:5000/tools/proxy, digest: 'sha256:abc' }
`,
      'overlays/prod/kustomization.yaml': `resources: [../../base]
images:
  - { name: web, newName: example.com/web }
patches:
  - target: { kind: Deployment, name: 'w.b' }
    patch: |
      - { op: replace, path: /spec/replicas, value: 5 }
      - { op: add, path: /spec/template/spec/containers/-, value: { name: extra, image: web } }
      - { op: remove, path: /spec/template/spec/containers/1 }
`,
    });
    const [deployment, namespace] = render(join(dir, 'overlays/prod'));
    expect(namespace).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    expect(deployment?.metadata.namespace).toBe('shop');
    expect(deployment?.spec).toEqual({
      replicas: 5,
      template: {
        spec: {
          containers: [
            // The overlay's newName keeps the base's tag.
            { name: 'web', image: 'example.com/web:1.2.3' },
            // Added by the overlay after the base's images ran, so only the overlay's entry applies.
            { name: 'extra', image: 'example.com/web' },
          ],
        },
      },
    });
    expect(render(join(dir, 'base'))[0]).toMatchObject({
      spec: {
        template: {
          spec: {
            containers: [{ image: 'web:1.2.3' }, { image: 'registry:5000/tools/proxy@sha256:abc' }],
          },
        },
      },
    });
  });

  it.each([
    [
      'a field it does not implement',
      { 'k/kustomization.yaml': 'resources: [a.yaml]\ncommonLabels: { a: b }\n' },
      'k',
      /"commonLabels" is not supported/,
    ],
    [
      'an overlay inside its base (kustomize: cycle detected)',
      { 'k/kustomization.yaml': 'resources: []\n', 'k/o/kustomization.yaml': 'resources: [..]\n' },
      'k/o',
      /contains .*kustomize refuses it/,
    ],
    [
      'a file outside the kustomization (the load restrictor)',
      { 'a.yaml': DEPLOYMENT, 'k/kustomization.yaml': 'resources: [../a.yaml]\n' },
      'k',
      /not in or below/,
    ],
    [
      'an object defined twice',
      { 'k/a.yaml': DEPLOYMENT, 'k/kustomization.yaml': 'resources: [a.yaml, a.yaml]\n' },
      'k',
      /defined twice/,
    ],
    [
      'a patch that matches nothing',
      {
        'k/a.yaml': DEPLOYMENT,
        'k/kustomization.yaml':
          'resources: [a.yaml]\npatches:\n  - target: { kind: StatefulSet }\n    patch: "[]"\n',
      },
      'k',
      /matches no object/,
    ],
    [
      'a strategic-merge patch',
      {
        'k/a.yaml': DEPLOYMENT,
        'k/kustomization.yaml':
          'resources: [a.yaml]\npatches:\n  - patch: "{kind: Deployment, metadata: {name: web}}"\n',
      },
      'k',
      /only JSON 6902 patches/,
    ],
    [
      'a replace at a path that does not exist',
      {
        'k/a.yaml': DEPLOYMENT,
        'k/kustomization.yaml':
          'resources: [a.yaml]\npatches:\n  - target: { kind: Deployment }\n    patch: "[{op: replace, path: /spec/paused, value: true}]"\n',
      },
      'k',
      /replace \/spec\/paused on Deployment\/web: no such path/,
    ],
  ])('refuses %s', (_name, files, root, message) => {
    write(files);
    expect(() => render(join(dir, root))).toThrow(message);
  });
});
