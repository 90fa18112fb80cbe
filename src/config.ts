/** Configuration: the only reader of process.env (STYLE.md, habit 9); YAML validated once at start. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './clock.ts';
import { ConfigError } from './errors.ts';
import { checkBases, type HttpCallSettings, type PagerDutySettings, type SlackSettings, type SmtpSettings } from './execute/outbound.ts';

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

const BurnRateSchema = z.object({
  /** The SLO's good ratio, e.g. 0.99. */
  objective: z.number().gt(0).lt(1),
  /** Long and short windows and their factor (default: the SRE Workbook's 1h/5m 14.4x, 6h/30m 6x, 3d/6h 1x). */
  windows: z.array(z.object({ long: duration, short: duration, factor: z.number().positive(), severity: z.string().default('page') })).min(1).optional(),
});

const SensorSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]*$/, 'lowercase letters, digits and _ only'),
    /** PromQL; for a burn-rate sensor, the error ratio over `$window` (e.g. `[$window]`). */
    query: z.string().min(1),
    interval: duration.default('15s'),
    timeout: duration.default('10s'),
    subjectLabels: z.array(z.string().min(1)).default([]),
    /** Multi-window, multi-burn-rate evaluation of an SLO; its sample is 1 while an alert fires, else 0. */
    burnRate: BurnRateSchema.optional(),
    threshold: z
      .object({
        direction: z.enum(['above', 'below']),
        fire: z.number(),
        clear: z.number().optional(),
        for: duration.optional(),
        keepFiringFor: duration.optional(),
      })
      .default({ direction: 'above', fire: 0.5 }),
    severity: z.enum(['critical', 'warning', 'info']),
    playbook: z.string().optional(),
    summary: z.string().optional(),
  })
  .refine((s) => !s.burnRate || s.query.includes('$window'), { message: 'a burn-rate sensor query must use $window', path: ['query'] })
  .refine((s) => !s.burnRate || s.subjectLabels.length === 0, { message: 'a burn-rate sensor evaluates one SLO: no subject labels', path: ['subjectLabels'] });

/** One PromQL sensor of the pack. */
export type SensorConfig = z.infer<typeof SensorSchema>;

const PackSchema = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  dryRun: z.boolean(),
  autonomy: z.enum(['autonomous', 'propose', 'shadow']),
  budgets: z
    .array(z.object({ actionType: z.string().min(1).optional(), perSubject: z.boolean().optional(), max: z.number().int().min(0), per: duration }))
    .default([]),
  flapGuard: z.object({ max: z.number().int().min(1), window: duration }),
  brake: z.object({ alertnames: z.array(z.string()).default([]), sensors: z.array(z.string()).default([]) }),
  reopenCooldown: duration,
  retention: duration,
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
    // Further playbooks keep their own settings here, validated by their own input functions.
  }).catchall(z.record(z.string(), z.unknown())),
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
  /** Slack, PagerDuty, SMTP and generic-call settings (secrets from the environment only). */
  outbound: Outbound;
}

/** Settings of the notification and generic-call actuators. */
export interface Outbound {
  slack?: SlackSettings;
  pagerduty?: PagerDutySettings;
  smtp?: SmtpSettings;
  http?: HttpCallSettings;
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
    outbound: loadOutbound(env),
  };
}

function commaList(v: string | undefined): string[] {
  return (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** A JSON object of strings from one variable; errors never show the value (it holds secrets). */
function stringMap(name: string, v: string | undefined): Record<string, string> | undefined {
  if (!v) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch {
    throw new ConfigError(`${name}: not valid JSON (the value is not shown: it holds secrets)`);
  }
  if (!isObject(parsed) || !Object.values(parsed).every((x) => typeof x === 'string')) throw new ConfigError(`${name}: expected a JSON object of strings`);
  return parsed as Record<string, string>;
}

function httpUrl(v: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}

/** Slack, PagerDuty, SMTP and generic-call settings from the environment, validated once at start. */
export function loadOutbound(env: NodeJS.ProcessEnv): Outbound {
  const out: Outbound = {};
  const hooks = stringMap('MAPEK_SLACK_WEBHOOKS', env.MAPEK_SLACK_WEBHOOKS);
  if (hooks && Object.keys(hooks).length > 0) {
    for (const [channel, url] of Object.entries(hooks)) {
      if (!httpUrl(url)) throw new ConfigError(`MAPEK_SLACK_WEBHOOKS: the webhook of ${channel} is not an http(s) URL`);
    }
    out.slack = { webhookUrls: hooks, defaultChannel: env.MAPEK_SLACK_DEFAULT_CHANNEL || undefined };
  }
  if (env.MAPEK_PAGERDUTY_ROUTING_KEY) {
    const eventsUrl = env.MAPEK_PAGERDUTY_EVENTS_URL || undefined;
    if (eventsUrl && !httpUrl(eventsUrl)) throw new ConfigError('MAPEK_PAGERDUTY_EVENTS_URL: not an http(s) URL');
    out.pagerduty = { routingKey: env.MAPEK_PAGERDUTY_ROUTING_KEY, eventsUrl, source: env.MAPEK_PAGERDUTY_SOURCE || undefined };
  }
  if (env.MAPEK_SMTP_HOST) {
    const secure = truthy(env.MAPEK_SMTP_SECURE);
    const portText = env.MAPEK_SMTP_PORT || (secure ? '465' : '587');
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`MAPEK_SMTP_PORT: not a port number: "${portText}"`);
    if (!env.MAPEK_SMTP_FROM) throw new ConfigError('MAPEK_SMTP_FROM: required when MAPEK_SMTP_HOST is set');
    out.smtp = {
      host: env.MAPEK_SMTP_HOST,
      port,
      secure,
      requireTLS: truthy(env.MAPEK_SMTP_REQUIRE_TLS),
      user: env.MAPEK_SMTP_USER || undefined,
      pass: env.MAPEK_SMTP_PASS || undefined,
      from: env.MAPEK_SMTP_FROM,
      defaultTo: commaList(env.MAPEK_SMTP_TO),
      allowedDomains: commaList(env.MAPEK_SMTP_ALLOWED_DOMAINS).map((d) => d.toLowerCase()),
    };
  }
  const bases = commaList(env.MAPEK_HTTP_BASES);
  if (bases.length > 0) {
    const maxText = env.MAPEK_HTTP_MAX_REDIRECTS || '5';
    const maxRedirects = Number(maxText);
    if (!Number.isInteger(maxRedirects) || maxRedirects < 0 || maxRedirects > 20) throw new ConfigError(`MAPEK_HTTP_MAX_REDIRECTS: expected 0..20, got "${maxText}"`);
    out.http = {
      bases: checkBases('MAPEK_HTTP_BASES', bases),
      allowRedirects: truthy(env.MAPEK_HTTP_ALLOW_REDIRECTS),
      maxRedirects,
      headers: stringMap('MAPEK_HTTP_HEADERS', env.MAPEK_HTTP_HEADERS),
    };
  }
  return out;
}
