import { z } from 'zod';

export const SERVICE_NAMES = [
  'ingress',
  'policy',
  'executor',
  'audit',
  'federation',
  'analytics',
] as const;
export const serviceNameSchema = z.enum(SERVICE_NAMES);
export type ServiceName = z.infer<typeof serviceNameSchema>;

/** Every service answers `gw.<service>.health.v1`. */
export function healthSubject<S extends ServiceName>(service: S): `gw.${S}.health.v1` {
  return `gw.${service}.health.v1`;
}

export const healthRequestSchema = z.object({}).strict();
export type HealthRequest = z.infer<typeof healthRequestSchema>;

export const dependencyStatusSchema = z.object({ ok: z.boolean(), detail: z.string().optional() });

export const healthReportSchema = z.object({
  service: serviceNameSchema,
  instance: z.string(),
  status: z.enum(['ok', 'degraded']),
  uptime_s: z.number().nonnegative(),
  dependencies: z.record(z.string(), dependencyStatusSchema),
});
export type HealthReport = z.infer<typeof healthReportSchema>;
