import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { CatalogueTool, Violation } from '@sg/contracts';
import { ConfigFileError, type ToolFile } from '@sg/config';
import { setOwn } from '@sg/runtime';

/** A tool as policy sees it: a registry entry, or a peer gateway's tool (from its catalogue). */
export type ToolDefinition = Omit<ToolFile, 'upstream'> & {
  upstream: ToolFile['upstream'] | { type: 'peer'; peer: string };
};

export interface RegisteredTool {
  definition: ToolDefinition;
  validate: ValidateFunction;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  return ajv;
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
  const ajv = newAjv();
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

/**
 * A peer's catalogue as tools of this gateway, named `<peer>/<tool>`: each schema compiled once
 * (per catalogue), closed like the registry's. A schema that does not compile is left out, and
 * its name returned in `refused`: a call to it is refused as not offered.
 */
export function compileCatalogue(
  peer: string,
  tools: readonly CatalogueTool[],
): { tools: Map<string, RegisteredTool>; refused: string[] } {
  const ajv = newAjv();
  const out = new Map<string, RegisteredTool>();
  const refused: string[] = [];
  for (const t of tools) {
    try {
      out.set(`${peer}/${t.name}`, {
        definition: {
          name: `${peer}/${t.name}`,
          description: t.description,
          input_schema: t.input_schema,
          // The peer asks its own approvers; this gateway's policy may still ask for one here.
          requires_approval: false,
          pii: t.pii,
          ...(t.tenant_field ? { tenant_field: t.tenant_field } : {}),
          writes: t.writes,
          idempotent: t.idempotent,
          pii_masking: { allow_fields: [] },
          upstream: { type: 'peer', peer },
        },
        validate: ajv.compile(closeObjectSchemas(t.input_schema) as object),
      });
    } catch {
      refused.push(t.name);
    }
  }
  return { tools: out, refused };
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
