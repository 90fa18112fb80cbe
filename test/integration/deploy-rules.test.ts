// The shipped deploy files, checked by the real promtool and amtool, plus the structure
// CHARTER.md requires of them; and the configs rendered from them for local runs.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensureBinaries } from '../../src/stack/binaries.ts';
import {
  nonLoopbackUrls,
  readShippedFile,
  renderAlertmanagerConfig,
  renderPrometheusConfig,
  shippedFiles,
} from '../../src/stack/configs.ts';

interface Run {
  code: number;
  output: string;
}

function run(command: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, output: `$ ${command} ${args.join(' ')}\n${stdout}${stderr}` });
    });
  });
}

/** Asserts success and shows the tool's output when it fails. */
function expectSuccess(result: Run): void {
  expect(result.code, result.output).toBe(0);
}

// The Charter's table: alert name → alert severity.
const CHARTER_RULES: Record<string, 'critical' | 'warning' | 'info'> = {
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

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function charterGroup(): { name: string; interval: string; rules: Rule[] } {
  const doc = parse(readShippedFile('charterAlerts')) as { groups: { name: string; interval: string; rules: Rule[] }[] };
  expect(doc.groups).toHaveLength(1);
  return doc.groups[0]!;
}

let tools: { promtool: string; amtool: string };
let scratch: string;

beforeAll(async () => {
  tools = await ensureBinaries(['promtool', 'amtool']);
  scratch = await mkdtemp(join(tmpdir(), 'mapek-deploy-rules-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('shipped Prometheus files', () => {
  it('promtool check rules accepts charter-alerts.yml', async () => {
    expectSuccess(await run(tools.promtool, ['check', 'rules', shippedFiles.charterAlerts]));
  });

  it('promtool test rules passes every case', async () => {
    expectSuccess(await run(tools.promtool, ['test', 'rules', shippedFiles.charterAlertTests]));
  });

  it('promtool check config accepts prometheus.yml', async () => {
    expectSuccess(await run(tools.promtool, ['check', 'config', shippedFiles.prometheusConfig]));
  });

  it('has the 11 Charter rules in group charter_violations every 30s, with severity, team and the four annotations', () => {
    const group = charterGroup();
    expect(group.name).toBe('charter_violations');
    expect(group.interval).toBe('30s');
    const byName = new Map(group.rules.map((r) => [r.alert, r]));
    expect([...byName.keys()].sort()).toEqual(Object.keys(CHARTER_RULES).sort());
    expect(group.rules).toHaveLength(11);
    for (const [name, severity] of Object.entries(CHARTER_RULES)) {
      const rule = byName.get(name)!;
      expect(rule.labels?.severity, name).toBe(severity);
      expect(rule.labels?.team, name).toMatch(/^\w+$/);
      for (const key of ['summary', 'description', 'runbook_url', 'dashboard_url']) {
        expect(rule.annotations?.[key], `${name}.${key}`).toMatch(/\S/);
      }
      // The rules must work whatever the scrape config calls its jobs and targets.
      expect(rule.expr, name).not.toMatch(/\b(job|instance)\b/);
    }
  });

  it('keeps the Charter-mandated shapes of rules 1, 10 and 11', () => {
    const byName = new Map(charterGroup().rules.map((r) => [r.alert, r]));
    const critical = byName.get('CriticalViolationDetected')!;
    expect(critical.for === undefined || /^(0s|[1-9]s|[1-2]\ds|30s)$/.test(critical.for)).toBe(true);
    expect(critical.expr).toContain('sum by (node_or_service)');
    expect(critical.expr).toContain('offset 5m');
    expect(critical.expr).toContain('violation_severity');
    expect(byName.get('HighViolationInvestigationRate')!.expr.trim()).toBe('sum(rate(westworld_charter_violations_total[1m])) > 5');
    expect(byName.get('UnusualDataRevocationActivity')!.for).toBe('5m');
  });

  it('tests every rule both firing and not firing', () => {
    const doc = parse(readShippedFile('charterAlertTests')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] | null }[] }[];
    };
    const firing = new Set<string>();
    const silent = new Set<string>();
    for (const test of doc.tests) {
      for (const c of test.alert_rule_test ?? []) {
        if ((c.exp_alerts ?? []).length > 0) firing.add(c.alertname);
        else silent.add(c.alertname);
      }
    }
    for (const name of Object.keys(CHARTER_RULES)) {
      expect(firing.has(name), `${name} has a firing case`).toBe(true);
      expect(silent.has(name), `${name} has a non-firing case`).toBe(true);
    }
  });
});

describe('shipped Alertmanager file', () => {
  it('amtool check-config accepts alertmanager.yml', async () => {
    expectSuccess(await run(tools.amtool, ['check-config', shippedFiles.alertmanagerConfig]));
  });

  // amtool prints the receivers an alert with these labels reaches, in route order.
  const ROUTES: [string, string[]][] = [
    ['alertname=CriticalViolationDetected severity=critical team=security node_or_service=n1', ['mapek', 'pagerduty', 'slack-security', 'slack-monitoring']],
    ['alertname=PolicyLoadFailure severity=critical team=sre', ['mapek', 'pagerduty', 'slack-security', 'slack-monitoring']],
    ['alertname=ForbiddenMetricSpike severity=warning team=security node_or_service=n1', ['mapek', 'slack-security', 'slack-monitoring']],
    ['alertname=UnusualDataRevocationActivity severity=warning team=security', ['mapek', 'slack-security', 'slack-monitoring']],
    ['alertname=ValidationLatencySLAViolation severity=warning team=sre', ['mapek', 'slack-sre', 'slack-monitoring']],
    ['alertname=CommitteeOverloaded severity=warning team=governance', ['mapek', 'slack-monitoring']],
    ['alertname=HighViolationInvestigationRate severity=info team=security', ['mapek', 'slack-monitoring']],
    ['alertname=SomethingElse', ['mapek', 'slack-monitoring']],
  ];
  it.each(ROUTES)('routes {%s}', async (labels, receivers) => {
    expectSuccess(
      await run(tools.amtool, [
        'config', 'routes', 'test',
        `--config.file=${shippedFiles.alertmanagerConfig}`,
        `--verify.receivers=${receivers.join(',')}`,
        ...labels.split(' '),
      ]),
    );
  });

  it('sends mapek every alert with resolutions, and inhibits warnings of a node under a critical', () => {
    const doc = parse(readShippedFile('alertmanagerConfig')) as {
      route: { group_by: string[]; routes: { receiver: string; matchers?: string[]; continue?: boolean }[] };
      receivers: { name: string; webhook_configs?: { url: string; send_resolved: boolean; max_alerts: number }[] }[];
      inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
    };
    expect(doc.route.group_by).toEqual(expect.arrayContaining(['alertname', 'node_or_service']));
    const first = doc.route.routes[0]!;
    expect(first).toMatchObject({ receiver: 'mapek', continue: true });
    expect(first.matchers ?? []).toEqual([]);
    const mapek = doc.receivers.find((r) => r.name === 'mapek')!.webhook_configs![0]!;
    expect(mapek.url).toBe('http://127.0.0.1:8080/webhooks/alertmanager');
    expect(mapek.send_resolved).toBe(true);
    expect(mapek.max_alerts).toBeGreaterThan(0);
    expect(doc.inhibit_rules).toEqual([
      expect.objectContaining({
        source_matchers: expect.arrayContaining(['severity="critical"']),
        target_matchers: expect.arrayContaining(['severity="warning"']),
        equal: ['node_or_service'],
      }),
    ]);
  });

  it('caps a webhook at max_alerts so that even a full group stays under mapek\'s 1 MiB body limit', () => {
    const doc = parse(readShippedFile('alertmanagerConfig')) as { receivers: { name: string; webhook_configs?: { max_alerts: number }[] }[] };
    const maxAlerts = doc.receivers.find((r) => r.name === 'mapek')!.webhook_configs![0]!.max_alerts;
    const longValue = 'x'.repeat(128);
    // A generous upper bound on one alert in webhook v4 JSON: its labels (with long node and
    // metric names), its annotations (the templates, plus room for the values they print),
    // its generatorURL (the URL-encoded expression), timestamps and fingerprint.
    const sizes = charterGroup().rules.map((rule) => {
      const labels = JSON.stringify({ ...rule.labels, alertname: rule.alert, node_or_service: longValue, metric_name: longValue, violation_severity: 'CRIMINAL_REFERRAL' });
      const annotations = JSON.stringify(rule.annotations).length + 4 * longValue.length;
      const generatorURL = `http://127.0.0.1:9090/graph?g0.expr=${encodeURIComponent(rule.expr)}&g0.tab=1`;
      return labels.length + annotations + generatorURL.length + 300;
    });
    const worst = Math.max(...sizes);
    // groupLabels, commonLabels and commonAnnotations can repeat one alert's worth.
    expect(worst * (maxAlerts + 1) + 2_048).toBeLessThan(1024 * 1024);
  });
});

describe('configs rendered for a local run', () => {
  it('prometheus: passes promtool check config, rule files included', async () => {
    const rendered = renderPrometheusConfig({
      simTarget: '127.0.0.1:18000',
      mapekTarget: '127.0.0.1:18080',
      alertmanagerUrl: 'http://127.0.0.1:19093',
      scrapeInterval: '1s',
      evaluationInterval: '1s',
      maxFor: '2s',
    });
    const dir = join(scratch, 'prometheus');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'prometheus.yml'), rendered.configYaml);
    for (const [name, content] of Object.entries(rendered.ruleFiles)) await writeFile(join(dir, name), content);
    const result = await run(tools.promtool, ['check', 'config', join(dir, 'prometheus.yml')]);
    expectSuccess(result);
    expect(result.output).toContain('11 rules found');
    expect(nonLoopbackUrls(parse(rendered.configYaml))).toEqual([]);
  });

  it('alertmanager: passes amtool check-config and reaches nothing beyond loopback', async () => {
    const yaml = renderAlertmanagerConfig({
      webhookUrl: 'http://127.0.0.1:18080/webhooks/alertmanager',
      token: 'local-token',
      sinkUrl: 'http://127.0.0.1:19999',
      groupWait: '1s',
      groupInterval: '2s',
      repeatInterval: '1m',
    });
    const file = join(scratch, 'alertmanager.yml');
    await writeFile(file, yaml);
    expectSuccess(await run(tools.amtool, ['check-config', file]));

    expect(nonLoopbackUrls(parse(yaml))).toEqual([]);
    // Belt and braces over the raw text: every scheme://host in it is loopback.
    for (const match of yaml.matchAll(/[a-z][a-z0-9+.-]*:\/\/([^/:\s'"]+)/gi)) {
      expect(['127.0.0.1', 'localhost'], match[0]).toContain(match[1]);
    }
    // Nothing left that reads a secret file or falls back to a vendor's default endpoint.
    expect(yaml).not.toMatch(/_file:/);
    const doc = parse(yaml) as { receivers: { name: string; slack_configs?: { api_url: string }[]; pagerduty_configs?: { url: string }[] }[] };
    for (const receiver of doc.receivers) {
      for (const slack of receiver.slack_configs ?? []) expect(slack.api_url).toMatch(/^http:\/\/127\.0\.0\.1:19999\//);
      for (const pd of receiver.pagerduty_configs ?? []) expect(pd.url).toMatch(/^http:\/\/127\.0\.0\.1:19999\//);
    }
  });
});
