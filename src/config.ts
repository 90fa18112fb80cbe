/** Configuration: the only reader of process.env (STYLE.md, habit 9); YAML validated once at start. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './clock.ts';
import { ConfigError } from './errors.ts';

const duration = z.string().refine((s) => {
  try {
    parseDuration(s);
    return true;
  } catch {
    return false;
  }
}, 'expected a duration such as 30s, 5m, 2h');

const actionQueue = z.object({
  concurrency: z.number().int().min(1),
  rateLimit: z.object({ max: z.number().int().min(1), per: duration }),
});

const SensorSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/, 'lowercase letters, digits and _ only'),
  query: z.string().min(1),
  interval: duration.default('15s'),
  timeout: duration.default('10s'),
  subjectLabels: z.array(z.string().min(1)).default([]),
  threshold: z.object({
    direction: z.enum(['above', 'below']),
    fire: z.number(),
    clear: z.number().optional(),
    for: duration.optional(),
    keepFiringFor: duration.optional(),
  }),
  severity: z.enum(['critical', 'warning', 'info']),
  playbook: z.string().optional(),
  summary: z.string().optional(),
});

/** One PromQL sensor of the pack. */
export type SensorConfig = z.infer<typeof SensorSchema>;

const PackSchema = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  dryRun: z.boolean(),
  reopenCooldown: duration,
  committee: z.object({
    members: z.array(z.string().min(1)),
    recipients: z.array(z.string().min(1)).min(1),
  }),
  playbooks: z.object({
    criticalViolation: z.object({
      alertnames: z.array(z.string().min(1)).min(1),
      subjectLabels: z.array(z.string().min(1)).min(1),
      severityLookupWindow: duration,
      verifyWindow: duration,
      verifyFirstCheck: duration,
      verifyInterval: duration,
      verifyDeadline: duration,
      removalQuorum: z.number().int().min(1),
      removalApprovalDeadline: duration,
    }),
  }),
  sensors: z.array(SensorSchema).default([]).refine((list) => new Set(list.map((s) => s.name)).size === list.length, 'sensor names must be unique'),
  execute: z.object({
    attempts: z.number().int().min(1),
    backoff: duration,
    maxBackoff: duration,
    timeout: duration,
    drainTimeout: duration,
    queues: z.object({ charter: actionQueue, prometheus: actionQueue, notify: actionQueue }),
  }),
});

/** The policy pack after merging the config file over the shipped pack. */
export type Pack = z.infer<typeof PackSchema>;

/** Everything a mapek process needs, read once at start. */
export interface Config {
  pack: Pack;
  configFile?: string;
  redisUrl: string;
  prometheusUrl: string;
  prometheusAuth?: { bearer?: string; username?: string; password?: string };
  knowledgeUrl: string;
  charterUrl: string;
  webhookToken?: string;
  adminToken?: string;
  pagerUrl?: string;
  port: number;
  host: string;
  /** A prefix for queue names, so tests and several loops can share one Redis. */
  queuePrefix: string;
  bodyLimit: number;
  logLevel: string;
}

/** Path of the shipped Charter pack. */
export const SHIPPED_PACK = fileURLToPath(new URL('../packs/charter/pack.yaml', import.meta.url));

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges `over` into `base`: objects merge key by key, anything else replaces. */
export function mergeDeep(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
    out[k] = mergeDeep(base[k], v);
  }
  return out;
}

function readYaml(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
}

/** Loads the shipped pack with an optional override file; errors name the file and the field. */
export function loadPack(configFile?: string, dryRunEnv?: boolean, overrides?: unknown): Pack {
  let raw = readYaml(SHIPPED_PACK);
  if (configFile) raw = mergeDeep(raw, readYaml(configFile));
  if (overrides !== undefined) raw = mergeDeep(raw, overrides);
  const parsed = PackSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // Name the sensor as well as its index: "sensors.2 (policy_staleness).threshold.fire".
    const path = issue.path.map((part, i) => {
      if (issue.path[i - 1] === 'sensors' && typeof part === 'number') {
        const name = (raw as { sensors?: Array<{ name?: unknown }> }).sensors?.[part]?.name;
        return typeof name === 'string' ? `${part} (${name})` : String(part);
      }
      return String(part);
    });
    throw new ConfigError(`${configFile ?? SHIPPED_PACK}: ${path.join('.') || '(root)'}: ${issue.message}`);
  }
  const pack = parsed.data;
  if (dryRunEnv) pack.dryRun = true;
  return pack;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

/** Reads the environment (DESIGN.md's names) and the config file into one validated Config. */
export function loadConfig(
  opts: { configFile?: string; port?: number; packOverrides?: unknown } = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const configFile = opts.configFile ?? env.MAPEK_CONFIG ?? undefined;
  const portText = opts.port ?? (env.PORT || '8080');
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT: not a port number: "${portText}"`);
  const auth =
    env.PROMETHEUS_BEARER_TOKEN || env.PROMETHEUS_USERNAME
      ? { bearer: env.PROMETHEUS_BEARER_TOKEN, username: env.PROMETHEUS_USERNAME, password: env.PROMETHEUS_PASSWORD }
      : undefined;
  return {
    pack: loadPack(configFile, truthy(env.MAPEK_DRY_RUN), opts.packOverrides),
    configFile,
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    prometheusUrl: (env.PROMETHEUS_URL || 'http://127.0.0.1:9090').replace(/\/+$/, ''),
    prometheusAuth: auth,
    knowledgeUrl: env.KNOWLEDGE_URL || 'sqlite:./data/mapek.db',
    charterUrl: (env.CHARTER_URL || 'http://127.0.0.1:8000').replace(/\/+$/, ''),
    webhookToken: env.MAPEK_WEBHOOK_TOKEN || undefined,
    adminToken: env.MAPEK_ADMIN_TOKEN || undefined,
    pagerUrl: env.MAPEK_PAGER_URL || undefined,
    port,
    host: env.MAPEK_HOST || '127.0.0.1',
    queuePrefix: env.MAPEK_QUEUE_PREFIX || 'mapek',
    bodyLimit: Number(env.MAPEK_WEBHOOK_BODY_LIMIT || 1024 * 1024),
    logLevel: env.LOG_LEVEL || 'info',
  };
}
