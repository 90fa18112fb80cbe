/**
 * Configs for a local run (tests, the demo, the benchmarks), rendered from the shipped
 * files under deploy/ so that what is tested is what ships. Everything rendered here
 * talks to loopback only; the renderers throw rather than produce anything else.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

type YamlMap = Record<string, unknown>;

const DEPLOY = new URL('../../deploy/', import.meta.url);

/** Paths of the shipped deploy files, for tools that take a file. */
export const shippedFiles = {
  prometheusConfig: fileURLToPath(new URL('prometheus/prometheus.yml', DEPLOY)),
  charterAlerts: fileURLToPath(new URL('prometheus/charter-alerts.yml', DEPLOY)),
  charterAlertTests: fileURLToPath(new URL('prometheus/tests/charter-alerts.test.yml', DEPLOY)),
  alertmanagerConfig: fileURLToPath(new URL('alertmanager/alertmanager.yml', DEPLOY)),
} as const;

/** The text of one shipped deploy file. */
export function readShippedFile(which: keyof typeof shippedFiles): string {
  return readFileSync(shippedFiles[which], 'utf8');
}

function isMap(value: unknown): value is YamlMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asMap(value: unknown, what: string): YamlMap {
  if (!isMap(value)) throw new Error(`${what}: expected a mapping`);
  return value;
}

function asList(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`${what}: expected a list`);
  return value;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** Milliseconds in a Prometheus duration such as `30s`, `1h30m` or `500ms`. */
export function parseDuration(text: string): number {
  const re = /(\d+)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    end = re.lastIndex;
  }
  if (text === '' || end !== text.length) throw new Error(`not a Prometheus duration: ${JSON.stringify(text)}`);
  return total;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** Whether a host name (no port) is a loopback address. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Every URL-looking string in a parsed config whose host is not loopback. */
export function nonLoopbackUrls(value: unknown): string[] {
  const found: string[] = [];
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      for (const match of v.matchAll(/[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi)) {
        let host: string;
        try {
          host = new URL(match[0]).hostname;
        } catch {
          found.push(match[0]);
          continue;
        }
        if (!isLoopbackHost(host)) found.push(match[0]);
      }
    } else if (Array.isArray(v)) {
      v.forEach(visit);
    } else if (isMap(v)) {
      Object.values(v).forEach(visit);
    }
  };
  visit(value);
  return found;
}

function assertLoopbackUrl(url: string, what: string): URL {
  const parsed = new URL(url);
  if (!isLoopbackHost(parsed.hostname)) throw new Error(`${what} must be a loopback URL for a local run, got ${url}`);
  return parsed;
}

/** A scrape target as `host:port` or as a URL (its scheme is kept). */
function scrapeTarget(target: string, what: string): { scheme: string; address: string } {
  const url = assertLoopbackUrl(target.includes('://') ? target : `http://${target}`, what);
  if (url.port === '') throw new Error(`${what} needs a port: ${target}`);
  return { scheme: url.protocol.replace(/:$/, ''), address: url.host };
}

/** Options of renderPrometheusConfig; durations are Prometheus durations. */
export interface PrometheusRenderOptions {
  /** The Charter or the simulator: `127.0.0.1:PORT` or `http://127.0.0.1:PORT`. */
  simTarget: string;
  /** mapek's /metrics; omitted or null drops the `mapek` job. */
  mapekTarget?: string | null;
  /** Alertmanager's base URL; omitted or null drops the `alerting` section. */
  alertmanagerUrl?: string | null;
  /** Default `1s`. */
  scrapeInterval?: string;
  /** Default `1s`; also becomes the interval of every rule group. */
  evaluationInterval?: string;
  /** Source rule files by file name; default the shipped `charter-alerts.yml`. */
  ruleFiles?: Record<string, string>;
  /** Caps every rule's `for` (e.g. `2s`), for runs that cannot wait 30 min; default unchanged. */
  maxFor?: string;
  /** Source prometheus.yml; default the shipped one. */
  baseConfig?: string;
}

/** A rendered Prometheus config and the rule files it names (relative to the config's directory). */
export interface RenderedPrometheusConfig {
  configYaml: string;
  ruleFiles: Record<string, string>;
}

/** Rule files with every group's interval set to `evaluationInterval` and `for` capped at `maxFor`. */
export function renderRuleFile(source: string, evaluationInterval: string, maxFor?: string): string {
  parseDuration(evaluationInterval);
  const cap = maxFor === undefined ? undefined : parseDuration(maxFor);
  const doc = asMap(parse(source), 'rule file');
  for (const [i, group] of asList(doc.groups, 'groups').entries()) {
    const g = asMap(group, `groups[${i}]`);
    g.interval = evaluationInterval;
    if (cap === undefined) continue;
    for (const [j, rule] of asList(g.rules, `groups[${i}].rules`).entries()) {
      const r = asMap(rule, `groups[${i}].rules[${j}]`);
      if (typeof r.for === 'string' && parseDuration(r.for) > cap) r.for = maxFor;
    }
  }
  return stringify(doc, { lineWidth: 0 });
}

/** prometheus.yml and its rule files for a local run: loopback targets, short intervals. */
export function renderPrometheusConfig(options: PrometheusRenderOptions): RenderedPrometheusConfig {
  const scrapeInterval = options.scrapeInterval ?? '1s';
  const evaluationInterval = options.evaluationInterval ?? '1s';
  parseDuration(scrapeInterval);
  const sources = options.ruleFiles ?? { 'charter-alerts.yml': readShippedFile('charterAlerts') };
  const ruleFiles: Record<string, string> = {};
  for (const [name, source] of Object.entries(sources)) {
    // Written next to the config by startPrometheus: a bare file name keeps it inside that directory.
    if (!/^[\w.-]+$/.test(name) || name.startsWith('.')) throw new Error(`rule file name must be a plain file name: ${name}`);
    ruleFiles[name] = renderRuleFile(source, evaluationInterval, options.maxFor);
  }

  const doc = asMap(parse(options.baseConfig ?? readShippedFile('prometheusConfig')), 'prometheus.yml');
  const global = isMap(doc.global) ? doc.global : {};
  global.scrape_interval = scrapeInterval;
  global.evaluation_interval = evaluationInterval;
  // The default 10 s timeout would exceed a 1 s interval, which Prometheus refuses.
  global.scrape_timeout = parseDuration(scrapeInterval) < 10_000 ? scrapeInterval : '10s';
  doc.global = global;
  doc.rule_files = Object.keys(ruleFiles);

  const targets = new Map<string, string | null | undefined>([['charter', options.simTarget], ['mapek', options.mapekTarget]]);
  const jobs: unknown[] = [];
  for (const [i, job] of asList(doc.scrape_configs, 'scrape_configs').entries()) {
    const j = asMap(job, `scrape_configs[${i}]`);
    const name = String(j.job_name);
    // Any other job (say, Prometheus scraping itself) points at a production port that a
    // local run does not use, so it is dropped rather than guessed.
    const target = targets.get(name);
    if (target === undefined || target === null) continue;
    const { scheme, address } = scrapeTarget(target, `${name} target`);
    j.scheme = scheme;
    j.static_configs = [{ targets: [address] }];
    delete j.scrape_interval;
    delete j.scrape_timeout;
    jobs.push(j);
  }
  doc.scrape_configs = jobs;

  if (options.alertmanagerUrl === undefined || options.alertmanagerUrl === null) {
    delete doc.alerting;
  } else {
    const url = assertLoopbackUrl(options.alertmanagerUrl, 'alertmanagerUrl');
    const am: YamlMap = { scheme: url.protocol.replace(/:$/, ''), static_configs: [{ targets: [url.host] }] };
    if (url.pathname !== '/' && url.pathname !== '') am.path_prefix = url.pathname;
    doc.alerting = { alertmanagers: [am] };
  }

  const leaks = nonLoopbackUrls(doc);
  if (leaks.length > 0) throw new Error(`rendered prometheus.yml would reach beyond loopback: ${leaks.join(', ')}`);
  return { configYaml: stringify(doc, { lineWidth: 0 }), ruleFiles };
}

/** Options of renderAlertmanagerConfig; durations are Prometheus durations. */
export interface AlertmanagerRenderOptions {
  /** mapek's webhook, e.g. `http://127.0.0.1:8080/webhooks/alertmanager`. */
  webhookUrl: string;
  /** Bearer token for the webhook (MAPEK_WEBHOOK_TOKEN), inlined; omitted sends none. */
  token?: string;
  /** A loopback HTTP sink standing in for Slack and PagerDuty (see startHttpSink). */
  sinkUrl: string;
  /** Default `1s`. */
  groupWait?: string;
  /** Default `5s`. */
  groupInterval?: string;
  /** Default `1h`. */
  repeatInterval?: string;
  /** Source alertmanager.yml; default the shipped one. */
  baseConfig?: string;
}

const TIMINGS = ['group_wait', 'group_interval', 'repeat_interval'] as const;
const KNOWN_RECEIVER_KEYS = new Set(['name', 'webhook_configs', 'slack_configs', 'pagerduty_configs']);
// The shipped mapek receiver; matched by name so a renamed receiver fails loudly below.
const MAPEK_RECEIVER = 'mapek';

function sinkEndpoint(sinkUrl: URL, kind: string, receiver: string): string {
  // One path per receiver, so a test can tell the channels apart by path alone.
  return new URL(`${kind}/${encodeURIComponent(receiver)}`, sinkUrl.href.endsWith('/') ? sinkUrl : `${sinkUrl.href}/`).href;
}

function setRouteTimings(route: YamlMap, timings: Record<(typeof TIMINGS)[number], string> | undefined): void {
  for (const key of TIMINGS) {
    if (timings === undefined) delete route[key];
    else route[key] = timings[key];
  }
  for (const [i, child] of asList(route.routes, 'routes').entries()) setRouteTimings(asMap(child, `routes[${i}]`), undefined);
}

/**
 * alertmanager.yml for a local run: the mapek receiver points at `webhookUrl` with the
 * token inlined, every Slack and PagerDuty endpoint at `sinkUrl`, every route uses the given
 * timings. Throws if the result would reach anything but loopback.
 */
export function renderAlertmanagerConfig(options: AlertmanagerRenderOptions): string {
  const timings = {
    group_wait: options.groupWait ?? '1s',
    group_interval: options.groupInterval ?? '5s',
    repeat_interval: options.repeatInterval ?? '1h',
  };
  for (const value of Object.values(timings)) parseDuration(value);
  assertLoopbackUrl(options.webhookUrl, 'webhookUrl');
  const sink = assertLoopbackUrl(options.sinkUrl, 'sinkUrl');

  const doc = asMap(parse(options.baseConfig ?? readShippedFile('alertmanagerConfig')), 'alertmanager.yml');
  if (isMap(doc.global)) {
    for (const key of Object.keys(doc.global)) {
      if (/_url(_file)?$/.test(key) || key.startsWith('smtp_')) delete doc.global[key];
    }
  }
  setRouteTimings(asMap(doc.route, 'route'), timings);

  let sawMapek = false;
  for (const [i, receiver] of asList(doc.receivers, 'receivers').entries()) {
    const r = asMap(receiver, `receivers[${i}]`);
    const name = String(r.name);
    const unknown = Object.keys(r).filter((k) => !KNOWN_RECEIVER_KEYS.has(k));
    if (unknown.length > 0) throw new Error(`receiver ${name}: cannot redirect ${unknown.join(', ')} to a local sink`);

    for (const [j, cfg] of asList(r.webhook_configs, `${name}.webhook_configs`).entries()) {
      const c = asMap(cfg, `${name}.webhook_configs[${j}]`);
      delete c.url_file;
      if (name === MAPEK_RECEIVER) {
        sawMapek = true;
        c.url = options.webhookUrl;
        const http = isMap(c.http_config) ? c.http_config : {};
        if (options.token === undefined || options.token === '') delete http.authorization;
        else http.authorization = { type: 'Bearer', credentials: options.token };
        if (Object.keys(http).length > 0) c.http_config = http;
        else delete c.http_config;
      } else {
        c.url = sinkEndpoint(sink, 'webhook', name);
        delete c.http_config;
      }
    }
    for (const [j, cfg] of asList(r.slack_configs, `${name}.slack_configs`).entries()) {
      const c = asMap(cfg, `${name}.slack_configs[${j}]`);
      delete c.api_url_file;
      delete c.http_config;
      c.api_url = sinkEndpoint(sink, 'slack', name);
    }
    for (const [j, cfg] of asList(r.pagerduty_configs, `${name}.pagerduty_configs`).entries()) {
      const c = asMap(cfg, `${name}.pagerduty_configs[${j}]`);
      const v1 = 'service_key' in c || 'service_key_file' in c;
      for (const key of ['routing_key', 'routing_key_file', 'service_key', 'service_key_file', 'http_config']) delete c[key];
      if (v1) c.service_key = 'local-sink';
      else c.routing_key = 'local-sink';
      c.url = sinkEndpoint(sink, 'pagerduty', name);
    }
  }
  if (!sawMapek) throw new Error(`alertmanager.yml has no webhook receiver named ${MAPEK_RECEIVER}`);

  const leaks = nonLoopbackUrls(doc);
  if (leaks.length > 0) throw new Error(`rendered alertmanager.yml would reach beyond loopback: ${leaks.join(', ')}`);
  return stringify(doc, { lineWidth: 0 });
}
