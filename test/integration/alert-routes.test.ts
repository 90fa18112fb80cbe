// Alertmanager routing as CHARTER.md "Routing" states it, checked on the shipped
// deploy/alertmanager/alertmanager.yml: every route case of deploy/alertmanager/tests/routes.yml
// through `amtool config routes test`, and the inhibition of a node's warnings by a critical
// alert about the same node on a real Alertmanager started from the rendered config.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensureBinaries } from '../../src/stack/binaries.ts';
import { readShippedFile, renderAlertmanagerConfig, shippedFiles } from '../../src/stack/configs.ts';
import { startAlertmanager, startHttpSink, type HttpSink, type RunningService } from '../../src/stack/processes.ts';

const root = resolve(import.meta.dirname, '../..');

interface RouteCase {
  labels: Record<string, string>;
  receivers: string[];
}
const cases = parse(readFileSync(join(root, 'deploy/alertmanager/tests/routes.yml'), 'utf8')) as Record<'charter_alerts' | 'mapek_alerts' | 'matrix', RouteCase[]>;

interface Rule {
  alert?: string;
  labels?: Record<string, string>;
}
function alertRules(file: string): Rule[] {
  const doc = parse(readFileSync(file, 'utf8')) as { groups: Array<{ rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
}

// CHARTER.md's table: the 11 alerts and their severity.
const CHARTER_ALERTS: Record<string, string> = {
  CriticalViolationDetected: 'critical',
  ForbiddenMetricSpike: 'warning',
  ValidationLatencySLAViolation: 'warning',
  PolicyLoadFailure: 'critical',
  EmergencyOverrideStayingActive: 'critical',
  CommitteeNotificationLatencySLA: 'warning',
  DataRevocationSLAViolation: 'warning',
  PolicyLoadFrequencyAnomaly: 'warning',
  CommitteeOverloaded: 'warning',
  HighViolationInvestigationRate: 'info',
  UnusualDataRevocationActivity: 'warning',
};

/**
 * CHARTER.md "Routing" as a function: #charter-security gets critical and security warnings,
 * #charter-sre performance/SLA warnings, #charter-monitoring everything, PagerDuty critical
 * only, mapek every alert. A second statement of the rule, so the case file cannot drift from it.
 */
function charterReceivers(labels: Record<string, string>): string[] {
  const { severity, team } = labels;
  const out = ['mapek'];
  if (severity === 'critical') out.push('pagerduty', 'slack-security');
  if (severity === 'warning' && team === 'security') out.push('slack-security');
  if (severity === 'warning' && team === 'sre') out.push('slack-sre');
  out.push('slack-monitoring');
  return out;
}

interface Run {
  code: number;
  stdout: string;
  output: string;
}
function run(command: string, args: readonly string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ code, stdout, output: `$ ${command} ${args.join(' ')}\n${stdout}${stderr}` });
    });
  });
}

// amtool lists the receivers of the matching routes in the order of the routing tree.
const routeOrder: string[] = (() => {
  const doc = parse(readShippedFile('alertmanagerConfig')) as { route: { receiver: string; routes?: Array<{ receiver: string }> } };
  const order: string[] = [];
  for (const r of [...(doc.route.routes ?? []), doc.route]) if (!order.includes(r.receiver)) order.push(r.receiver);
  return order;
})();
const inTreeOrder = (receivers: string[]) => [...receivers].sort((a, b) => routeOrder.indexOf(a) - routeOrder.indexOf(b));

let amtool: string;
beforeAll(async () => {
  ({ amtool } = await ensureBinaries(['amtool']));
});

async function routesFor(labels: Record<string, string>, expected: string[]): Promise<{ receivers: string[]; verify: Run }> {
  const args = ['config', 'routes', 'test', `--config.file=${shippedFiles.alertmanagerConfig}`];
  const labelArgs = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  const plain = await run(amtool, [...args, ...labelArgs]);
  expect(plain.code, plain.output).toBe(0);
  const receivers = plain.stdout.trim().split(',').filter(Boolean);
  const verify = await run(amtool, [...args, `--verify.receivers=${inTreeOrder(expected).join(',')}`, ...labelArgs]);
  return { receivers, verify };
}

describe('the route cases', () => {
  it('name the 11 alerts of CHARTER.md with the severity CHARTER.md gives and the team charter-alerts.yml sets', () => {
    const rules = new Map(alertRules(shippedFiles.charterAlerts).map((r) => [r.alert!, r.labels ?? {}]));
    expect(cases.charter_alerts.map((c) => c.labels.alertname).sort()).toEqual(Object.keys(CHARTER_ALERTS).sort());
    for (const c of cases.charter_alerts) {
      const name = c.labels.alertname!;
      expect(c.labels.severity, name).toBe(CHARTER_ALERTS[name]);
      expect(c.labels.severity, name).toBe(rules.get(name)!.severity);
      expect(c.labels.team, name).toBe(rules.get(name)!.team);
    }
  });

  it("cover each of mapek's own alerts at each severity its rules give it", () => {
    const rules = alertRules(join(root, 'deploy/prometheus/mapek-slo.yml')).map((r) => `${r.alert}/${r.labels!.severity}/${r.labels!.team}`);
    const covered = cases.mapek_alerts.map((c) => `${c.labels.alertname}/${c.labels.severity}/${c.labels.team}`);
    expect([...new Set(covered)].sort()).toEqual([...new Set(rules)].sort());
  });

  it('expect exactly what CHARTER.md says, mapek always', () => {
    for (const c of [...cases.charter_alerts, ...cases.mapek_alerts, ...cases.matrix]) {
      expect([...c.receivers].sort(), JSON.stringify(c.labels)).toEqual(charterReceivers(c.labels).sort());
      expect(c.receivers, JSON.stringify(c.labels)).toContain('mapek');
    }
  });
});

describe('amtool config routes test on the shipped alertmanager.yml', () => {
  const all = (['charter_alerts', 'mapek_alerts', 'matrix'] as const).flatMap((group) =>
    cases[group].map((c) => [`${group}: ${Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(' ')}`, c] as const),
  );

  it.each(all)('%s reaches exactly its receivers', async (_name, c) => {
    const { receivers, verify } = await routesFor(c.labels, c.receivers);
    // Each receiver once (a receiver matched twice would notify twice), and exactly the expected set.
    expect(new Set(receivers).size, receivers.join(',')).toBe(receivers.length);
    expect([...receivers].sort()).toEqual([...c.receivers].sort());
    // amtool's own verdict.
    expect(verify.code, verify.output).toBe(0);
  });

  it('amtool --verify.receivers fails when a receiver is missing or extra (the check can fail)', async () => {
    const labels = { alertname: 'CriticalViolationDetected', severity: 'critical', team: 'security', node_or_service: 'node-a' };
    expect((await routesFor(labels, ['mapek', 'slack-security', 'slack-monitoring'])).verify.code).not.toBe(0);
    expect((await routesFor(labels, ['mapek', 'pagerduty', 'slack-security', 'slack-sre', 'slack-monitoring'])).verify.code).not.toBe(0);
  });
});

// ------------------------------------------------------------------ inhibition, on a real Alertmanager

interface AmAlert {
  labels: Record<string, string>;
  status: { state: string; inhibitedBy: string[]; silencedBy: string[] };
}
interface WebhookBody {
  status: string;
  alerts: Array<{ status: string; labels: Record<string, string> }>;
}

describe('inhibition on a real Alertmanager (rendered from the shipped config)', () => {
  let dir: string;
  let sink: HttpSink;
  let am: RunningService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mapek-alert-routes-'));
    sink = await startHttpSink();
    am = await startAlertmanager({
      dir,
      configYaml: renderAlertmanagerConfig({
        // The sink stands in for mapek's webhook as well as for Slack and PagerDuty.
        webhookUrl: `${sink.url}/webhooks/alertmanager`,
        sinkUrl: sink.url,
        groupWait: '1s',
        groupInterval: '1s',
        repeatInterval: '1h',
      }),
    });
  });

  afterAll(async () => {
    await Promise.allSettled([am?.stop(), sink?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const critical = { alertname: 'CriticalViolationDetected', severity: 'critical', team: 'security', node_or_service: 'node-x', violation_severity: 'PERMANENT_BAN' };
  const warningSameNode = { alertname: 'ForbiddenMetricSpike', severity: 'warning', team: 'security', node_or_service: 'node-x', metric_name: 'user_location' };
  const warningOtherNode = { alertname: 'ForbiddenMetricSpike', severity: 'warning', team: 'security', node_or_service: 'node-y', metric_name: 'user_location' };
  // Node-less: a node-less critical must not mute them (alertmanager.yml's `=~".+"` matchers).
  const criticalNoNode = { alertname: 'PolicyLoadFailure', severity: 'critical', team: 'sre' };
  const warningNoNode = { alertname: 'ValidationLatencySLAViolation', severity: 'warning', team: 'sre' };
  const revocationNoNode = { alertname: 'UnusualDataRevocationActivity', severity: 'warning', team: 'security' };

  async function post(alerts: Array<{ labels: Record<string, string>; endsAt?: string }>): Promise<void> {
    const res = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alerts.map((a) => ({ annotations: { summary: `${a.labels.alertname} ${a.labels.node_or_service ?? ''}` }, ...a }))),
    });
    expect(res.status, await res.text()).toBe(200);
  }

  async function alertsNow(): Promise<AmAlert[]> {
    return (await (await fetch(`${am.url}/api/v2/alerts`)).json()) as AmAlert[];
  }
  const find = (alerts: AmAlert[], labels: Record<string, string>) =>
    alerts.find((a) => Object.entries(labels).every(([k, v]) => a.labels[k] === v) && Object.keys(a.labels).length === Object.keys(labels).length);

  /** Polls until `probe` returns a value, or fails after `ms`. */
  async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await probe().catch(() => undefined);
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const delivered = (path: string, labels: Record<string, string>) =>
    sink.requests.some((r) => {
      if (r.path !== path) return false;
      const body = r.json as { alerts?: WebhookBody['alerts'] } | undefined;
      // Slack bodies carry the rendered summary only; the webhook body carries the labels.
      if (body?.alerts) return body.alerts.some((a) => a.status === 'firing' && Object.entries(labels).every(([k, v]) => a.labels[k] === v));
      return r.body.includes(`${labels.alertname} ${labels.node_or_service ?? ''}`);
    });

  it('a critical alert about a node mutes that node\'s warnings, for mapek too; other nodes and node-less alerts go through', async () => {
    await post([{ labels: critical }, { labels: criticalNoNode }]);
    await eventually('the critical alerts to be active', async () => {
      const now = await alertsNow();
      return find(now, critical)?.status.state === 'active' && find(now, criticalNoNode)?.status.state === 'active' ? true : undefined;
    });
    await post([{ labels: warningSameNode }, { labels: warningOtherNode }, { labels: warningNoNode }, { labels: revocationNoNode }]);

    const now = await eventually('the warnings to be listed', async () => {
      const list = await alertsNow();
      return [warningSameNode, warningOtherNode, warningNoNode, revocationNoNode].every((l) => find(list, l)) ? list : undefined;
    });
    const muted = find(now, warningSameNode)!;
    expect(muted.status.state).toBe('suppressed');
    expect(muted.status.inhibitedBy).toHaveLength(1);
    for (const labels of [warningOtherNode, warningNoNode, revocationNoNode, critical, criticalNoNode]) {
      const a = find(now, labels)!;
      expect(a.status, JSON.stringify(labels)).toMatchObject({ state: 'active', inhibitedBy: [] });
    }
    // The filter operators use: inhibited alerts left out.
    const visible = (await (await fetch(`${am.url}/api/v2/alerts?inhibited=false`)).json()) as AmAlert[];
    expect(find(visible, warningSameNode)).toBeUndefined();
    expect(find(visible, warningOtherNode)).toBeDefined();

    // What the receivers get: node-y's warning reaches mapek and #charter-security; node-x's reaches nobody.
    await eventually('node-y at mapek', async () => (delivered('/webhooks/alertmanager', warningOtherNode) ? true : undefined));
    await eventually('node-y at #charter-security', async () => (delivered('/slack/slack-security', warningOtherNode) ? true : undefined));
    await eventually('the node-less warnings at mapek', async () =>
      delivered('/webhooks/alertmanager', warningNoNode) && delivered('/webhooks/alertmanager', revocationNoNode) ? true : undefined,
    );
    // Several group intervals (1 s) later, still nothing about node-x's warning anywhere.
    await new Promise((r) => setTimeout(r, 3_000));
    for (const path of ['/webhooks/alertmanager', '/slack/slack-security', '/slack/slack-monitoring']) {
      expect(delivered(path, warningSameNode), path).toBe(false);
    }
    expect(delivered('/webhooks/alertmanager', critical)).toBe(true);
  });

  it('once the critical alert resolves, the muted warning is delivered', async () => {
    await post([{ labels: critical, endsAt: new Date().toISOString() }]);
    await eventually('node-x warning to become active', async () => (find(await alertsNow(), warningSameNode)?.status.state === 'active' ? true : undefined));
    await eventually('node-x warning at mapek', async () => (delivered('/webhooks/alertmanager', warningSameNode) ? true : undefined));
    await eventually('node-x warning at #charter-security', async () => (delivered('/slack/slack-security', warningSameNode) ? true : undefined));
  });
});
