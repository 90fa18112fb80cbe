// A real Prometheus and Alertmanager started from the rendered shipped configs: they come
// up on loopback, a Charter rule fires end to end into the sink, and stop() leaves nothing.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderAlertmanagerConfig, renderPrometheusConfig } from '../../src/stack/configs.ts';
import {
  ensureRedis,
  freePort,
  pingRedis,
  startAlertmanager,
  startHttpSink,
  startPrometheus,
  type HttpSink,
  type RunningService,
} from '../../src/stack/processes.ts';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface WebhookBody {
  status: string;
  alerts: { status: string; labels: Record<string, string> }[];
}

describe('local stack: Prometheus + Alertmanager', () => {
  const token = 'stack-test-token';
  let dir: string;
  let exposition = '';
  let charter: Server;
  let charterPort: number;
  let sink: HttpSink;
  let alertmanager: RunningService;
  let prometheus: RunningService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mapek-deploy-stack-'));
    // A stand-in Charter exporter whose exposition the test rewrites.
    charter = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(exposition);
    });
    charterPort = await freePort();
    await new Promise<void>((resolve) => charter.listen(charterPort, '127.0.0.1', resolve));
    sink = await startHttpSink();

    alertmanager = await startAlertmanager({
      dir: join(dir, 'alertmanager'),
      configYaml: renderAlertmanagerConfig({
        // mapek is not running here: the sink stands in for its webhook too.
        webhookUrl: `${sink.url}/webhooks/alertmanager`,
        token,
        sinkUrl: sink.url,
        groupWait: '1s',
        groupInterval: '2s',
        repeatInterval: '1h',
      }),
    });
    const rendered = renderPrometheusConfig({
      simTarget: `127.0.0.1:${charterPort}`,
      alertmanagerUrl: alertmanager.url,
      scrapeInterval: '1s',
      evaluationInterval: '1s',
    });
    prometheus = await startPrometheus({ dir: join(dir, 'prometheus'), configYaml: rendered.configYaml, ruleFiles: rendered.ruleFiles });
  });

  afterAll(async () => {
    await Promise.allSettled([prometheus?.stop(), alertmanager?.stop(), sink?.stop()]);
    await new Promise<void>((resolve) => (charter ? charter.close(() => resolve()) : resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('both are ready on loopback, with the Charter rules loaded and Alertmanager discovered', async () => {
    for (const service of [prometheus, alertmanager]) {
      expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(`${service.url}/-/ready`)).status, service.logs()).toBe(200);
      expect(isAlive(service.pid)).toBe(true);
    }
    const rules = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as {
      data: { groups: { name: string; interval: number; rules: unknown[] }[] };
    };
    expect(rules.data.groups).toEqual([expect.objectContaining({ name: 'charter_violations', interval: 1 })]);
    expect(rules.data.groups[0]!.rules).toHaveLength(11);
    await eventually('Prometheus to discover Alertmanager', async () => {
      const res = (await (await fetch(`${prometheus.url}/api/v1/alertmanagers`)).json()) as {
        data: { activeAlertmanagers: { url: string }[] };
      };
      return res.data.activeAlertmanagers.some((a) => a.url.startsWith(alertmanager.url)) ? true : undefined;
    });
  });

  it('a first PERMANENT_BAN fires CriticalViolationDetected through to the webhook, PagerDuty and Slack; a new series at 0 does not', async () => {
    const series = (node: string, severity: string, value: number): string =>
      `westworld_charter_violations_total{severity="${severity}",violation_type="data_extraction",node_or_service="${node}"} ${value}\n`;
    exposition = `# TYPE westworld_charter_violations_total counter\n${series('node-quiet', 'WARNING', 0)}`;
    await eventually('a first scrape', async () => {
      const res = (await (await fetch(`${prometheus.url}/api/v1/query?query=westworld_charter_violations_total`)).json()) as {
        data: { result: unknown[] };
      };
      return res.data.result.length > 0 ? true : undefined;
    });
    // The real exporter creates a label set on its first increment: the series appears at 1.
    exposition += series('node-banned', 'PERMANENT_BAN', 1) + series('node-zero', 'CRIMINAL_REFERRAL', 0);

    const webhook = await sink.waitFor(
      (r) => r.path === '/webhooks/alertmanager' && JSON.stringify(r.json ?? '').includes('node-banned'),
      30_000,
    );
    expect(webhook.headers.authorization).toBe(`Bearer ${token}`);
    const body = webhook.json as WebhookBody;
    expect(body.alerts).toEqual([
      expect.objectContaining({
        status: 'firing',
        labels: expect.objectContaining({
          alertname: 'CriticalViolationDetected',
          severity: 'critical',
          team: 'security',
          node_or_service: 'node-banned',
          violation_severity: 'PERMANENT_BAN',
        }),
      }),
    ]);
    await sink.waitFor((r) => r.path === '/pagerduty/pagerduty');
    const slack = await sink.waitFor((r) => r.path === '/slack/slack-security');
    expect((slack.json as { channel: string }).channel).toBe('#charter-security');

    const firing = (await (await fetch(`${prometheus.url}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string> }[] };
    };
    const nodes = firing.data.alerts.map((a) => a.labels.node_or_service);
    expect(nodes).toContain('node-banned');
    expect(nodes).not.toContain('node-zero');
    expect(nodes).not.toContain('node-quiet');
  });

  it('stop() ends both processes and frees their ports', async () => {
    const services = [prometheus, alertmanager];
    await Promise.all(services.map((s) => s.stop()));
    await Promise.all(services.map((s) => s.stop())); // a second stop is harmless
    for (const service of services) {
      expect(isAlive(service.pid)).toBe(false);
      await expect(fetch(`${service.url}/-/ready`)).rejects.toThrow();
    }
  });
});

describe('local stack: failures and Redis', () => {
  it('a Prometheus that cannot start fails fast with its own error output', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mapek-deploy-broken-'));
    try {
      await expect(startPrometheus({ dir, configYaml: 'global: [this is not a config' })).rejects.toThrow(/exited with code \d+[\s\S]*last output[\s\S]*prometheus\.yml/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ensureRedis starts a throwaway redis-server where none answers, and stops it', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    expect(await pingRedis(url)).toBe(false);
    const redis = await ensureRedis(url);
    try {
      expect(redis.started).toBe(true);
      expect(await pingRedis(url)).toBe(true);
      // A second call finds it running and owns nothing.
      const again = await ensureRedis(url);
      expect(again.started).toBe(false);
      await again.stop();
      expect(await pingRedis(url)).toBe(true);
    } finally {
      await redis.stop();
    }
    expect(await pingRedis(url)).toBe(false);
  });
});
