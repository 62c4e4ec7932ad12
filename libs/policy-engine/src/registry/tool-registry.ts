import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Violation } from '@sg/contracts';
import { ConfigFileError, type ToolFile } from '@sg/config';
import { setOwn } from '@sg/runtime';

export interface RegisteredTool {
  definition: ToolFile;
  validate: ValidateFunction;
}

/**
 * Object schemas reject fields they do not name unless they opt in with additionalProperties,
 * so an agent cannot smuggle an argument the tool's author never considered.
 */
export function closeObjectSchemas(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjectSchemas);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    setOwn(
      out,
      key,
      key === 'enum' || key === 'const' || key === 'default' || key === 'examples'
        ? value
        : closeObjectSchemas(value),
    );
  }
  const isObject =
    out.type === 'object' || (out.properties !== undefined && out.type === undefined);
  if (
    isObject &&
    out.additionalProperties === undefined &&
    out.unevaluatedProperties === undefined
  ) {
    out.additionalProperties = false;
  }
  return out;
}

/** Compiles every tool's argument schema once; a schema ajv refuses makes the file invalid. */
export function compileRegistry(
  tools: ReadonlyMap<string, ToolFile>,
  dir: string,
): Map<string, RegisteredTool> {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  const out = new Map<string, RegisteredTool>();
  for (const [name, definition] of tools) {
    try {
      out.set(name, {
        definition,
        validate: ajv.compile(closeObjectSchemas(definition.input_schema) as object),
      });
    } catch (err) {
      throw new ConfigFileError(
        `${dir}/tools/${name}.json`,
        null,
        null,
        `input_schema: ${(err as Error).message}`,
      );
    }
  }
  return out;
}

export function violationsOf(errors: ErrorObject[] | null | undefined): Violation[] {
  return (errors ?? []).map((e) => {
    const path = e.instancePath || '/';
    if (e.keyword === 'additionalProperties') {
      return { path, message: `unknown field "${String(e.params.additionalProperty)}"; remove it` };
    }
    if (e.keyword === 'required') {
      return { path, message: `missing required field "${String(e.params.missingProperty)}"` };
    }
    return { path, message: e.message ?? 'invalid' };
  });
}
