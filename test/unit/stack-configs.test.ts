// The local-run renderers over the shipped deploy files: no processes, just YAML in and out.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  isLoopbackHost,
  nonLoopbackUrls,
  parseDuration,
  renderAlertmanagerConfig,
  renderPrometheusConfig,
  renderRuleFile,
} from '../../src/stack/configs.ts';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1d', 86_400_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', '5 m', 'm5', '1.5h'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a Prometheus duration/);
  });
});

describe('loopback checks', () => {
  it('knows loopback hosts', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '[::1]']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '10.0.0.1', 'hooks.slack.com', 'events.pagerduty.com']) expect(isLoopbackHost(host), host).toBe(false);
  });

  it('finds URLs beyond loopback anywhere in a document', () => {
    expect(
      nonLoopbackUrls({ a: ['http://127.0.0.1:1/x', { b: 'see https://hooks.slack.com/services/T/B/X' }], c: 'http://localhost:2' }),
    ).toEqual(['https://hooks.slack.com/services/T/B/X']);
  });
});

describe('renderRuleFile', () => {
  const source = `groups:
  - name: g
    interval: 30s
    rules:
      - alert: Long
        expr: up == 0
        for: 30m
      - alert: Short
        expr: up == 0
        for: 1s
      - alert: None
        expr: up == 0
`;

  it('sets every group interval to the evaluation interval', () => {
    const doc = parse(renderRuleFile(source, '1s')) as Doc;
    expect(doc.groups[0].interval).toBe('1s');
    expect(doc.groups[0].rules.map((r: Doc) => r.for)).toEqual(['30m', '1s', undefined]);
  });

  it('caps `for` at maxFor without adding one where there was none', () => {
    const doc = parse(renderRuleFile(source, '1s', '5s')) as Doc;
    expect(doc.groups[0].rules.map((r: Doc) => r.for)).toEqual(['5s', '1s', undefined]);
  });
});

describe('renderPrometheusConfig', () => {
  it('renders the shipped config for loopback targets and rewrites the Charter rules', () => {
    const rendered = renderPrometheusConfig({
      simTarget: '127.0.0.1:18000',
      mapekTarget: 'http://localhost:18080',
      alertmanagerUrl: 'http://127.0.0.1:19093/am',
      scrapeInterval: '1s',
      evaluationInterval: '2s',
    });
    const doc = parse(rendered.configYaml) as Doc;
    expect(doc.global).toMatchObject({ scrape_interval: '1s', evaluation_interval: '2s', scrape_timeout: '1s' });
    expect(doc.rule_files).toEqual(['charter-alerts.yml']);
    expect(doc.scrape_configs).toEqual([
      expect.objectContaining({ job_name: 'charter', scheme: 'http', static_configs: [{ targets: ['127.0.0.1:18000'] }] }),
      expect.objectContaining({ job_name: 'mapek', scheme: 'http', static_configs: [{ targets: ['localhost:18080'] }] }),
    ]);
    expect(doc.alerting).toEqual({
      alertmanagers: [{ scheme: 'http', path_prefix: '/am', static_configs: [{ targets: ['127.0.0.1:19093'] }] }],
    });
    const rules = parse(rendered.ruleFiles['charter-alerts.yml']!) as Doc;
    expect(rules.groups[0]).toMatchObject({ name: 'charter_violations', interval: '2s' });
    expect(rules.groups[0].rules).toHaveLength(11);
  });

  it('drops the mapek job and the alerting section when not given', () => {
    const doc = parse(renderPrometheusConfig({ simTarget: '127.0.0.1:18000' }).configYaml) as Doc;
    expect(doc.scrape_configs.map((j: Doc) => j.job_name)).toEqual(['charter']);
    expect(doc.alerting).toBeUndefined();
    expect(doc.global.scrape_interval).toBe('1s');
  });

  it('takes custom rule files, but only by plain file name', () => {
    const rule = 'groups: [{name: x, interval: 1m, rules: [{alert: A, expr: "vector(1)", for: 1h}]}]\n';
    const rendered = renderPrometheusConfig({ simTarget: '127.0.0.1:1', ruleFiles: { 'extra.yml': rule }, maxFor: '1s' });
    expect(parse(rendered.configYaml).rule_files).toEqual(['extra.yml']);
    expect((parse(rendered.ruleFiles['extra.yml']!) as Doc).groups[0]).toMatchObject({ interval: '1s', rules: [{ for: '1s' }] });
    expect(() => renderPrometheusConfig({ simTarget: '127.0.0.1:1', ruleFiles: { '../x.yml': rule } })).toThrow(/plain file name/);
  });

  it('refuses targets beyond loopback or without a port', () => {
    expect(() => renderPrometheusConfig({ simTarget: 'charter.example.com:8000' })).toThrow(/loopback/);
    expect(() => renderPrometheusConfig({ simTarget: '127.0.0.1:1', alertmanagerUrl: 'http://10.0.0.1:9093' })).toThrow(/loopback/);
    expect(() => renderPrometheusConfig({ simTarget: '127.0.0.1' })).toThrow(/port/);
  });
});

describe('renderAlertmanagerConfig', () => {
  const base = { webhookUrl: 'http://127.0.0.1:18080/webhooks/alertmanager', sinkUrl: 'http://127.0.0.1:19999' };

  it('points mapek at the webhook with the token inlined and every vendor endpoint at the sink', () => {
    const doc = parse(renderAlertmanagerConfig({ ...base, token: 't0k' })) as Doc;
    const byName = new Map<string, Doc>(doc.receivers.map((r: Doc) => [r.name, r]));
    expect(byName.get('mapek')!.webhook_configs[0]).toMatchObject({
      url: base.webhookUrl,
      send_resolved: true,
      http_config: { authorization: { type: 'Bearer', credentials: 't0k' } },
    });
    expect(byName.get('mapek')!.webhook_configs[0].max_alerts).toBeGreaterThan(0);
    expect(byName.get('pagerduty')!.pagerduty_configs[0]).toMatchObject({ url: 'http://127.0.0.1:19999/pagerduty/pagerduty', routing_key: 'local-sink' });
    expect(byName.get('pagerduty')!.pagerduty_configs[0].routing_key_file).toBeUndefined();
    for (const [name, channel] of [['slack-security', '#charter-security'], ['slack-sre', '#charter-sre'], ['slack-monitoring', '#charter-monitoring']]) {
      const slack = byName.get(name!)!.slack_configs[0];
      expect(slack).toMatchObject({ api_url: `http://127.0.0.1:19999/slack/${name}`, channel });
      expect(slack.api_url_file).toBeUndefined();
    }
    expect(nonLoopbackUrls(doc)).toEqual([]);
  });

  it('sends no Authorization header without a token', () => {
    const doc = parse(renderAlertmanagerConfig(base)) as Doc;
    const mapek = doc.receivers.find((r: Doc) => r.name === 'mapek').webhook_configs[0];
    expect(mapek.http_config).toBeUndefined();
  });

  it('puts the timings on the root route only, so every route uses them', () => {
    const doc = parse(renderAlertmanagerConfig({ ...base, groupWait: '0s', groupInterval: '1s', repeatInterval: '10m' })) as Doc;
    expect(doc.route).toMatchObject({ group_wait: '0s', group_interval: '1s', repeat_interval: '10m' });
    for (const child of doc.route.routes) {
      expect(child.group_wait).toBeUndefined();
      expect(child.group_interval).toBeUndefined();
      expect(child.repeat_interval).toBeUndefined();
    }
    // Routing itself is untouched: mapek first, continuing.
    expect(doc.route.routes[0]).toMatchObject({ receiver: 'mapek', continue: true });
  });

  it('refuses anything that could leave the machine', () => {
    expect(() => renderAlertmanagerConfig({ ...base, webhookUrl: 'http://mapek.example:8080/webhooks/alertmanager' })).toThrow(/loopback/);
    expect(() => renderAlertmanagerConfig({ ...base, sinkUrl: 'https://hooks.slack.com' })).toThrow(/loopback/);
    const withEmail = `route: {receiver: mapek}
receivers:
  - name: mapek
    webhook_configs: [{url: "http://127.0.0.1:1/"}]
    email_configs: [{to: a@example.com}]
`;
    expect(() => renderAlertmanagerConfig({ ...base, baseConfig: withEmail })).toThrow(/email_configs/);
    const global = `global: {slack_api_url: "https://hooks.slack.com/x"}
route: {receiver: mapek}
receivers: [{name: mapek, webhook_configs: [{url: "http://127.0.0.1:1/"}]}]
`;
    expect((parse(renderAlertmanagerConfig({ ...base, baseConfig: global })) as Doc).global).toEqual({});
  });
});
