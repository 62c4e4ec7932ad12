import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/**
 * A small kustomize for CI, where no kubectl or kustomize binary exists: only the fields that
 * deploy/ uses (resources, namespace, images, JSON 6902 patches), with kustomize's own rules for
 * them. Any other field is refused, so a kustomization never renders here differently from
 * `kubectl apply -k` without the test failing. Users run kubectl; see deploy/README.md.
 */

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface ImageEntry {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

interface PatchEntry {
  path?: string;
  patch?: string;
  target?: { kind?: string; name?: string };
}

interface Kustomization {
  namespace?: string;
  resources?: string[];
  images?: ImageEntry[];
  patches?: PatchEntry[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface PatchOp {
  op: string;
  path: string;
  value?: Json;
}

const FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images', 'patches']);
const TARGET_FIELDS = new Set(['kind', 'name']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'StorageClass']);

/** YAML 1.1, as kubectl decodes manifests: 0400 is octal, unquoted yes/no are booleans. */
const YAML = { version: '1.1' } as const;

/** The objects that `kubectl kustomize <dir>` prints, in the order of the resources. */
export function render(dir: string): K8sObject[] {
  return build(resolve(dir), []);
}

function build(root: string, visited: string[]): K8sObject[] {
  const k = readKustomization(root);
  const objects: K8sObject[] = [];
  for (const entry of k.resources ?? []) {
    const path = resolve(root, entry);
    if (statSync(path).isDirectory()) {
      // kustomize: "cycle detected: candidate root '...' contains visited root '...'".
      const contained = [root, ...visited].find((v) => isWithin(v, path));
      if (contained)
        throw new Error(`${root}: resource ${entry} contains ${contained}; kustomize refuses it`);
      objects.push(...build(path, [root, ...visited]));
    } else {
      // kustomize's default load restrictor: files only from the kustomization's own folder.
      if (!isWithin(path, root))
        throw new Error(`${root}: file ${entry} is not in or below the kustomization`);
      objects.push(...readObjects(path));
    }
  }
  refuseDuplicates(root, objects);
  for (const p of k.patches ?? []) applyPatch(root, p, objects);
  if (k.namespace) {
    for (const o of objects) {
      // kustomize renames a Namespace object to the kustomization's namespace.
      if (o.kind === 'Namespace') o.metadata.name = k.namespace;
      else if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
    }
  }
  for (const image of k.images ?? []) setImage(root, image, objects);
  return objects;
}

function readKustomization(root: string): Kustomization {
  const file = join(root, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${root}: no kustomization.yaml`);
  const k = parse(readFileSync(file, 'utf8'), YAML) as Record<string, unknown>;
  for (const field of Object.keys(k)) {
    if (!FIELDS.has(field))
      throw new Error(`${file}: "${field}" is not supported by the CI renderer (tests/deploy)`);
  }
  return k as Kustomization;
}

function readObjects(file: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'), YAML)) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as K8sObject | null;
    if (o === null) continue;
    if (!o.apiVersion || !o.kind || !o.metadata?.name)
      throw new Error(`${file}: an object without apiVersion, kind or metadata.name`);
    objects.push(o);
  }
  return objects;
}

function refuseDuplicates(root: string, objects: K8sObject[]): void {
  const seen = new Set<string>();
  for (const o of objects) {
    const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
    const id = `${group}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(id)) throw new Error(`${root}: ${id} is defined twice`);
    seen.add(id);
  }
}

function applyPatch(root: string, entry: PatchEntry, objects: K8sObject[]): void {
  const target = entry.target ?? {};
  for (const field of Object.keys(target)) {
    if (!TARGET_FIELDS.has(field))
      throw new Error(`${root}: patch target field "${field}" is not supported by the CI renderer`);
  }
  let text = entry.patch;
  if (entry.path !== undefined) {
    const file = resolve(root, entry.path);
    if (!isWithin(file, root)) throw new Error(`${root}: patch ${entry.path} is outside`);
    text = readFileSync(file, 'utf8');
  }
  const ops = parse(text ?? '', YAML) as unknown;
  if (!Array.isArray(ops) || entry.target === undefined)
    throw new Error(`${root}: only JSON 6902 patches (a list of ops, with a target) are supported`);
  // kustomize matches target names as anchored regular expressions.
  const name = target.name === undefined ? undefined : new RegExp(`^(?:${target.name})$`);
  const matched = objects.filter(
    (o) =>
      (target.kind === undefined || o.kind === target.kind) &&
      (name === undefined || name.test(o.metadata.name)),
  );
  // Stricter than kustomize, which skips such a patch without a word.
  if (matched.length === 0)
    throw new Error(`${root}: the patch for ${JSON.stringify(target)} matches no object`);
  for (const o of matched) {
    for (const op of ops as PatchOp[]) {
      try {
        applyOp(o as unknown as Json, op);
      } catch (err) {
        throw new Error(
          `${root}: ${op.op} ${op.path} on ${o.kind}/${o.metadata.name}: ${(err as Error).message}`,
        );
      }
    }
  }
}

/** RFC 6902 add, replace and remove. */
function applyOp(doc: Json, op: PatchOp): void {
  const keys = op.path
    .split('/')
    .slice(1)
    .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
  const last = keys.pop();
  if (last === undefined) throw new Error('the root cannot be patched');
  let parent: Json | undefined = doc;
  for (const key of keys) parent = child(parent, key);
  if (parent === null || typeof parent !== 'object') throw new Error('no such path');
  const value = structuredClone(op.value) as Json;
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    const present = Number.isInteger(index) && index >= 0 && index < parent.length;
    if (op.op === 'add' && index <= parent.length) parent.splice(index, 0, value);
    else if (op.op === 'replace' && present) parent[index] = value;
    else if (op.op === 'remove' && present) parent.splice(index, 1);
    else throw new Error(`no index ${last} for ${op.op}`);
  } else if (op.op === 'add') {
    parent[last] = value;
  } else if ((op.op === 'replace' || op.op === 'remove') && last in parent) {
    if (op.op === 'replace') parent[last] = value;
    else delete parent[last];
  } else {
    throw new Error(op.op === 'test' || op.op === 'move' ? 'unsupported op' : 'no such path');
  }
}

function child(node: Json | undefined, key: string): Json | undefined {
  if (Array.isArray(node)) return node[Number(key)];
  if (node !== null && typeof node === 'object') return node[key];
  return undefined;
}

/** kustomize's images: every container whose image has this name gets the new name, tag or digest. */
function setImage(root: string, entry: ImageEntry, objects: K8sObject[]): void {
  if (entry.newTag !== undefined && entry.digest !== undefined)
    throw new Error(`${root}: image ${entry.name}: newTag with digest is not supported here`);
  for (const container of containers(objects)) {
    const m = /^(.*?)(?::([^:/@]+))?(?:@(.+))?$/.exec(container.image ?? '');
    if (!m || m[1] !== entry.name) continue;
    const name = entry.newName ?? m[1];
    if (entry.digest !== undefined) container.image = `${name}@${entry.digest}`;
    else if (entry.newTag !== undefined) container.image = `${name}:${entry.newTag}`;
    else container.image = `${name}${m[2] ? `:${m[2]}` : ''}${m[3] ? `@${m[3]}` : ''}`;
  }
}

/** Every item of a `containers` or `initContainers` list, wherever it is in the objects. */
export function containers(objects: unknown[]): { name?: string; image?: string }[] {
  const found: { name?: string; image?: string }[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if ((key === 'containers' || key === 'initContainers') && Array.isArray(value))
          found.push(...(value as { image?: string }[]));
        else walk(value);
      }
    }
  };
  walk(objects);
  return found;
}

function isWithin(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
