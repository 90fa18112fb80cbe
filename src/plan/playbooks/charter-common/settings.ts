/** Settings of the Charter playbooks: each reads `playbooks.<camelCaseName>` of the pack with zod, defaults applied, errors naming the field. */
import { z } from 'zod';
import { parseDuration } from '../../../clock.ts';
import type { Pack } from '../../../config.ts';
import { ConfigError } from '../../../errors.ts';

/** A duration such as 30s, 5m, 2h. */
export const duration = z.string().refine((s) => {
  try {
    parseDuration(s);
    return true;
  } catch {
    return false;
  }
}, 'expected a duration such as 30s, 5m, 2h');

/** The fields every routed playbook has: the alerts that open it and the labels naming its subject. */
export function routeFields(alertname: string, subjectLabels: string[] = []) {
  return {
    alertnames: z.array(z.string().min(1)).min(1).default([alertname]),
    subjectLabels: z.array(z.string().min(1)).default(subjectLabels),
  };
}

/** The verification timings of a plan that verifies by re-checking a predicate. */
export const verifyFields = {
  verifyWindow: duration.default('1m'),
  verifyFirstCheck: duration.default('30s'),
  verifyInterval: duration.default('15s'),
  verifyDeadline: duration.default('5m'),
};

/**
 * Parses `pack.playbooks[key]` (absent: all defaults). Throws ConfigError naming the field,
 * e.g. `playbooks.forbiddenMetricSpike.verifyDeadline: expected a duration such as 30s, 5m, 2h`.
 */
export function playbookSettings<S extends z.ZodType>(pack: Pack, key: string, schema: S): z.infer<S> {
  const raw = (pack.playbooks as Record<string, unknown>)[key] ?? {};
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`pack ${pack.name}: ${['playbooks', key, ...issue.path.map(String)].join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

/** A duration setting in milliseconds. */
export const ms = (text: string): number => parseDuration(text);
