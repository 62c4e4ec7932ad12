import { z } from 'zod';
import { argumentsSchema, idSchema, projectIdSchema, toolNameSchema } from '../common.js';

export const EXECUTE_SUBJECT = 'gw.executor.execute.v1';

export const executeRequestSchema = z.object({
  project: projectIdSchema,
  agent_id: idSchema,
  session_id: idSchema,
  request_id: idSchema,
  tool: toolNameSchema,
  arguments: argumentsSchema,
});
export type ExecuteRequest = z.infer<typeof executeRequestSchema>;

export const maskingReportSchema = z.object({
  level: z.enum(['standard', 'strict', 'off']),
  masked: z.record(z.string(), z.number().int().nonnegative()),
  rejected: z.record(z.string(), z.number().int().nonnegative()),
});
export type MaskingReport = z.infer<typeof maskingReportSchema>;

export const executeResultSchema = z.object({
  result: z.unknown(),
  upstream_status: z.number().int(),
  duration_ms: z.number().nonnegative(),
  masking: maskingReportSchema.optional(),
});
export type ExecuteResult = z.infer<typeof executeResultSchema>;
