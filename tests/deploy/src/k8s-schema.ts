import { resolve } from 'node:path';
import ts from 'typescript';
import type { K8sObject } from './kustomize.js';

/**
 * Checks objects against the Kubernetes API schemas of the `kubernetes-models` package, offline,
 * in two passes:
 * - `validate()` of the model class of each kind: the JSON Schema of the API (types, required
 *   fields, formats such as quantities). It ignores fields it does not know, as the API's
 *   OpenAPI schemas allow any.
 * - The package's TypeScript types, which list every field: an object literal with a field the
 *   type lacks (a typo, or a field at the wrong level) is an error, as it is for `kubectl apply`
 *   with its default strict field validation.
 * Returns one message per problem, each naming the object; none when all is well.
 */
export async function schemaErrors(objects: K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const o of objects) {
    let model: (new (data: unknown) => { validate(): void }) | undefined;
    try {
      const module = (await import(`kubernetes-models/${o.apiVersion}/${o.kind}`)) as Record<
        string,
        new (data: unknown) => { validate(): void }
      >;
      model = module[o.kind];
    } catch {
      model = undefined;
    }
    if (!model) {
      errors.push(
        `${objectName(o)}: kubernetes-models has no schema for ${o.apiVersion} ${o.kind}`,
      );
      continue;
    }
    try {
      new model(o).validate();
    } catch (err) {
      errors.push(`${objectName(o)}: ${(err as Error).message}`);
    }
  }
  return [...errors, ...unknownFieldErrors(objects.filter((o) => !errors.some(aboutThis(o))))];
}

export function objectName(o: K8sObject): string {
  return `${o.kind}/${o.metadata.name}`;
}

const aboutThis = (o: K8sObject) => (e: string) => e.startsWith(`${objectName(o)}:`);

// A virtual file beside this project, so that `kubernetes-models` resolves from node_modules.
const VIRTUAL = resolve(import.meta.dirname, '..', '__manifests__.ts');
const OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: [],
  lib: ['lib.es2022.d.ts'],
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
};
let previous: ts.Program | undefined;

// Each object is checked on its own line, so its result does not depend on the others.
const checked = new Map<string, string[]>();

function unknownFieldErrors(all: K8sObject[]): string[] {
  const keys = all.map((o) => JSON.stringify(o));
  const objects = all.filter((_, i) => !checked.has(keys[i]!));
  if (objects.length > 0) {
    const found = typeCheck(objects);
    objects.forEach((o, i) => checked.set(JSON.stringify(o), found[i]!));
  }
  return [...new Set(keys.flatMap((k) => checked.get(k)!))];
}

/** The type errors of each object (by index), from a program of one virtual file. */
function typeCheck(objects: K8sObject[]): string[][] {
  const types = [...new Set(objects.map((o) => `${o.apiVersion}/${o.kind}`))];
  const alias = (o: K8sObject) => `T${types.indexOf(`${o.apiVersion}/${o.kind}`)}`;
  const imports = types.map((t, i) => {
    const kind = t.split('/').pop()!;
    return `import type { I${kind} as T${i} } from 'kubernetes-models/${t}';`;
  });
  // One object per line, so a diagnostic's line names its object.
  const lines = objects.map((o, i) => `export const o${i}: ${alias(o)} = ${JSON.stringify(o)};`);
  const source = [...imports, ...lines].join('\n');

  const host = ts.createCompilerHost(OPTIONS);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    name === VIRTUAL
      ? ts.createSourceFile(name, source, version)
      : getSourceFile(name, version, ...rest);
  host.fileExists = (name) => name === VIRTUAL || fileExists(name);
  const program = ts.createProgram([VIRTUAL], OPTIONS, host, previous);
  previous = program;

  const errors = objects.map((): string[] => []);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    // The literal's keys are JSON strings: say 'name', not '"name"'.
    const message = ts
      .flattenDiagnosticMessageText(d.messageText, ' ')
      .replace(/'"([^"']+)"'/g, "'$1'");
    const line =
      d.file?.fileName === VIRTUAL && d.start !== undefined
        ? d.file.getLineAndCharacterOfPosition(d.start).line - imports.length
        : -1;
    const o = objects[line];
    // A problem outside the objects' lines (an import) is nobody's alone: charge it to all.
    if (o) errors[line]!.push(`${objectName(o)}: ${message}`);
    else for (const list of errors) list.push(message);
  }
  return errors;
}
