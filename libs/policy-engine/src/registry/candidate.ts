import {
  ConfigFileError,
  FILE_KIND_SCHEMAS,
  FILES_FIELD,
  type FileKind,
  type GatewayFiles,
  lintConfigText,
  projectsOf,
} from '@sg/config';
import type { LintProblem } from '@sg/contracts';
import { compileProjects, type CompiledKeys, type CompiledPolicy } from './compile.js';

/**
 * A project's policy, contextual-policy or model_keys YAML, checked as the gateway would load it
 * and compiled with the other files of `active`: the YAML (duplicate keys, custom tags, alias
 * bombs), the file's schema, then the compiled policy (globs, schemas, time zones). Either every
 * problem with its line and column, or the project's compiled policy and keys with it.
 */
export function compileCandidate(
  active: GatewayFiles,
  project: string,
  kind: FileKind,
  yaml: string,
): { problems: LintProblem[] } | { problems: []; policy: CompiledPolicy; keys: CompiledKeys } {
  const file = `${kind}/${project}.yaml`;
  const toProblem = (e: ConfigFileError): LintProblem => ({
    file,
    line: e.line,
    column: e.column,
    reason: e.reason,
  });
  const linted = lintConfigText(file, yaml, FILE_KIND_SCHEMAS[kind]);
  if (!linted.ok) return { problems: linted.problems.map(toProblem) };
  const field = FILES_FIELD[kind];
  const candidate = {
    ...active,
    [field]: new Map<string, unknown>(active[field]).set(project, linted.value),
  } as GatewayFiles;
  try {
    // The project files only: the tools' schemas do not change.
    const compiled = compileProjects({ ...candidate, projects: projectsOf(candidate) });
    return {
      problems: [],
      policy: compiled.live.get(project)!,
      keys: compiled.keys.get(project)!,
    };
  } catch (err) {
    if (err instanceof ConfigFileError) return { problems: [toProblem(err)] };
    return { problems: [{ file, line: null, column: null, reason: (err as Error).message }] };
  }
}
