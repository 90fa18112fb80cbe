// mapek's own SLO rules (deploy/prometheus/mapek-slo.yml): promtool accepts them and passes
// their unit tests, they have the shape Sloth generates (SLI recordings per window, metadata,
// page and ticket burn-rate alerts over the SRE workbook's window pairs), every alert is tested
// firing and not firing, links to a runbook section that exists, and every deployment loads it.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensureBinaries } from '../../src/stack/binaries.ts';
import { readShippedFile, renderPrometheusConfig } from '../../src/stack/configs.ts';

const root = resolve(import.meta.dirname, '../..');
const RULES = join(root, 'deploy/prometheus/mapek-slo.yml');
const TESTS = join(root, 'deploy/prometheus/tests/mapek-slo.test.yml');
const RUNBOOKS = join(root, 'deploy/prometheus/RUNBOOKS.md');

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const groups = (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups;
const rules = groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);
const records = rules.filter((r) => r.record !== undefined);

// The two SLOs of issue 8 and their objectives.
const SLOS = {
  'mapek-incident-handling': { objective: 0.99, alert: 'MapekIncidentHandlingErrorBudgetBurn' },
  'mapek-webhook-acknowledgement': { objective: 0.999, alert: 'MapekWebhookErrorBudgetBurn' },
} as const;
const WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d'];
// Google SRE workbook, ch. 5 (what Sloth and Pyrra generate for a 30-day period).
const PAGE = [
  { factor: 14.4, short: '5m', long: '1h' },
  { factor: 6, short: '30m', long: '6h' },
];
const TICKET = [
  { factor: 3, short: '2h', long: '1d' },
  { factor: 1, short: '6h', long: '3d' },
];

interface Run {
  code: number;
  output: string;
}
function run(command: string, args: readonly string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(command, args, { timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ code, output: `$ ${command} ${args.join(' ')}\n${stdout}${stderr}` });
    });
  });
}

let promtool: string;
let scratch: string;
beforeAll(async () => {
  ({ promtool } = await ensureBinaries(['promtool']));
  scratch = await mkdtemp(join(tmpdir(), 'mapek-slo-rules-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('promtool', () => {
  it('check rules accepts mapek-slo.yml', async () => {
    const r = await run(promtool, ['check', 'rules', RULES]);
    expect(r.code, r.output).toBe(0);
  });

  it('test rules passes every case of tests/mapek-slo.test.yml', async () => {
    const r = await run(promtool, ['test', 'rules', TESTS]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  }, 120_000);
});

describe('the Sloth shape', () => {
  it.each(Object.entries(SLOS))('%s records its SLI error ratio over every window and the metadata series', (id, slo) => {
    const mine = records.filter((r) => r.labels?.sloth_id === id);
    const windows = mine.filter((r) => r.record!.startsWith('slo:sli_error:ratio_rate')).map((r) => r.labels!.sloth_window);
    expect(windows).toEqual(WINDOWS);
    for (const r of mine.filter((x) => x.record!.startsWith('slo:sli_error:ratio_rate'))) {
      expect(r.record).toBe(`slo:sli_error:ratio_rate${r.labels!.sloth_window}`);
      expect(r.labels).toMatchObject({ sloth_service: 'mapek', sloth_slo: id.replace(/^mapek-/, '') });
    }
    const meta = Object.fromEntries(mine.map((r) => [r.record!, r.expr.trim()]));
    expect(meta['slo:objective:ratio']).toBe(`vector(${slo.objective})`);
    expect(meta['slo:error_budget:ratio']).toBe(`vector(1 - ${slo.objective})`);
    expect(meta['slo:time_period:days']).toBe('vector(30)');
    for (const name of ['slo:current_burn_rate:ratio', 'slo:period_burn_rate:ratio', 'slo:period_error_budget_remaining:ratio', 'sloth_slo_info']) {
      expect(meta[name], name).toBeDefined();
    }
  });

  it.each(Object.entries(SLOS))('%s pages and tickets on the multi-window burn rates of its budget', (id, slo) => {
    const budget = Number((1 - slo.objective).toFixed(6));
    const mine = alerts.filter((a) => a.alert === slo.alert);
    expect(mine.map((a) => `${a.labels!.sloth_severity}/${a.labels!.severity}`).sort()).toEqual(['page/critical', 'ticket/warning']);
    for (const [severity, pairs] of [['page', PAGE], ['ticket', TICKET]] as const) {
      const expr = mine.find((a) => a.labels!.sloth_severity === severity)!.expr.replace(/\s+/g, ' ');
      for (const { factor, short, long } of pairs) {
        for (const w of [short, long]) {
          const term = `max(slo:sli_error:ratio_rate${w}{sloth_id="${id}", sloth_service="mapek", sloth_slo="${id.replace(/^mapek-/, '')}"} > (${factor} * ${budget})) without (sloth_window)`;
          expect(expr, `${severity} ${w}`).toContain(term);
        }
        // The two windows of a pair must both burn (and), the pairs are alternatives (or).
        const pair = new RegExp(`ratio_rate${short}\\{[^}]*\\} > \\(${factor} \\* [\\d.]+\\)\\) without \\(sloth_window\\) and max\\(slo:sli_error:ratio_rate${long}\\{`);
        expect(expr, `${severity} ${short}/${long}`).toMatch(pair);
      }
      expect(expr.split(') or (').length, severity).toBe(2);
    }
  });

  it('every expression aggregates away job and instance and never names them', () => {
    for (const r of rules) expect(r.expr, r.record ?? r.alert).not.toMatch(/\b(job|instance)\b/);
  });
});

describe('the alerts', () => {
  it('carry severity, team and the four annotations, like the Charter rules', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(5);
    for (const a of alerts) {
      expect(['critical', 'warning'], a.alert).toContain(a.labels?.severity);
      expect(a.labels?.team, a.alert).toBe('sre');
      for (const key of ['summary', 'description', 'runbook_url', 'dashboard_url']) expect(a.annotations?.[key], `${a.alert}.${key}`).toMatch(/\S/);
    }
  });

  it('link to a section of RUNBOOKS.md that exists, and to the Loop dashboard', () => {
    // GitHub's anchor for a heading: lower case, spaces to dashes, punctuation dropped.
    const anchors = new Set(
      readFileSync(RUNBOOKS, 'utf8')
        .split('\n')
        .filter((l) => /^#{1,6} /.test(l))
        .map((l) => l.replace(/^#+ /, '').trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')),
    );
    const dashboardUids = new Set(
      ['charter-violations', 'charter-performance', 'mapek-loop'].map((f) => (JSON.parse(readFileSync(join(root, 'deploy/grafana/dashboards', `${f}.json`), 'utf8')) as { uid: string }).uid),
    );
    for (const a of alerts) {
      const url = new URL(a.annotations!.runbook_url!);
      expect(url.pathname, a.alert).toMatch(/\/deploy\/prometheus\/RUNBOOKS\.md$/);
      expect(url.hash.slice(1), a.alert).toBe(a.alert!.toLowerCase());
      expect(anchors.has(url.hash.slice(1)), `${a.alert}: no section ${url.hash} in RUNBOOKS.md`).toBe(true);
      const dash = new URL(a.annotations!.dashboard_url!);
      expect(dashboardUids.has(dash.pathname.split('/')[2]!), a.alert).toBe(true);
    }
  });

  it('each alert, at each of its severities, has a promtool case firing and one not firing', () => {
    const doc = parse(readFileSync(TESTS, 'utf8')) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: Array<{ exp_labels?: Record<string, string> }> | null }> }>;
    };
    const firing = new Set<string>();
    const silent = new Set<string>();
    const severities = new Map<string, Set<string>>();
    for (const a of alerts) severities.set(a.alert!, new Set([...(severities.get(a.alert!) ?? []), a.labels!.severity!]));
    for (const t of doc.tests) {
      for (const c of t.alert_rule_test ?? []) {
        const fired = new Set((c.exp_alerts ?? []).map((e) => e.exp_labels?.severity));
        for (const sev of severities.get(c.alertname) ?? []) (fired.has(sev) ? firing : silent).add(`${c.alertname}/${sev}`);
      }
    }
    for (const [name, sevs] of severities) {
      for (const sev of sevs) {
        expect(firing.has(`${name}/${sev}`), `${name} at ${sev} has a firing case`).toBe(true);
        expect(silent.has(`${name}/${sev}`), `${name} at ${sev} has a non-firing case`).toBe(true);
      }
    }
  });
});

describe('deployments load the rules', () => {
  it('deploy/prometheus/prometheus.yml and the compose Prometheus name mapek-slo.yml; compose mounts it', () => {
    expect((parse(readShippedFile('prometheusConfig')) as { rule_files: string[] }).rule_files).toContain('mapek-slo.yml');
    const composeProm = parse(readFileSync(join(root, 'deploy/compose/prometheus.yml'), 'utf8')) as { rule_files: string[] };
    expect(composeProm.rule_files).toContain('/etc/prometheus/rules/mapek-slo.yml');
    const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { volumes?: string[] }> };
    expect(compose.services.prometheus!.volumes).toContain('./deploy/prometheus/mapek-slo.yml:/etc/prometheus/rules/mapek-slo.yml:ro');
  });

  it('a local-run config rendered with them passes promtool check config (Charter rules and SLO rules together)', async () => {
    const rendered = renderPrometheusConfig({
      simTarget: '127.0.0.1:18000',
      mapekTarget: '127.0.0.1:18080',
      ruleFiles: { 'charter-alerts.yml': readShippedFile('charterAlerts'), 'mapek-slo.yml': readFileSync(RULES, 'utf8') },
    });
    await writeFile(join(scratch, 'prometheus.yml'), rendered.configYaml);
    for (const [name, content] of Object.entries(rendered.ruleFiles)) await writeFile(join(scratch, name), content);
    const r = await run(promtool, ['check', 'config', join(scratch, 'prometheus.yml')]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`${records.length + alerts.length} rules found`);
  });
});
