/**
 * The inspection page in headless Chromium, on real components: the simulator over HTTP, mapek
 * in-process (Redis, SQLite), the admin token as the basic-auth password. The page shows a banned
 * node's incident with its subject and chain, draws the statechart with the current state marked,
 * takes two approvals through its dialog and then shows the removal run (one revocation at the
 * simulator); it pauses and resumes the loop, and renders hostile labels as text.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../sim/index.ts';
import { loadConfig } from '../../src/config.ts';
import { startMapek, type RunningMapek } from '../../src/main.ts';
import { until } from '../helpers/until.ts';

const TOKEN = `ui-${randomBytes(12).toString('hex')}`;
const NODE = `node-ui-${randomBytes(3).toString('hex')}`;
const XSS = '<img src=x onerror=alert(1)>';
const SCREENSHOT = process.env.MAPEK_UI_SCREENSHOT || join(tmpdir(), 'mapek-ui.png');

let dir: string;
let sim: RunningSimulator;
let mapek: RunningMapek;
let browser: Browser;
let base: string;

interface Action {
  id: string;
  step: string;
  status: string;
  quorum: number | null;
  approvals: Array<{ by: string; decision: string; comment?: string }>;
}
interface Incident {
  id: string;
  state: string;
  labels: Record<string, string>;
  plan: { machine: string; state: string } | null;
  actions: Action[];
}

const auth = { authorization: `Bearer ${TOKEN}` };

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${base}${path}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function incidentOf(node: string): Promise<Incident | undefined> {
  const list = await api<{ items: Array<{ id: string }> }>(`/api/incidents?label=${encodeURIComponent(`node_or_service=${node}`)}`);
  const id = list.items[0]?.id;
  return id ? api<Incident>(`/api/incidents/${id}`) : undefined;
}

async function revocations(node: string): Promise<unknown[]> {
  const res = await fetch(`${sim.url}/api/revocations?node_or_service=${encodeURIComponent(node)}`);
  return ((await res.json()) as { items: unknown[] }).items;
}

async function alert(node: string, severity: string, fingerprint: string) {
  const res = await fetch(`${base}/webhooks/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      version: '4',
      status: 'firing',
      receiver: 'mapek',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'CriticalViolationDetected', node_or_service: node, severity: 'critical', violation_severity: severity },
          annotations: {},
          startsAt: new Date().toISOString(),
          fingerprint,
        },
      ],
    }),
  });
  expect(res.status).toBe(202);
}

/** Approves or rejects through the page's dialog; returns the dialog's error text, if it stayed open with one. */
async function decideInPage(page: Page, decision: 'approve' | 'reject', by: string, comment: string): Promise<string | null> {
  const dialog = page.locator('#decide-dialog');
  if (!(await dialog.isVisible())) await page.locator(`article.action[data-step="remove-node"] button[data-decision="${decision}"]`).click();
  await dialog.waitFor({ state: 'visible' });
  await page.locator('#decide-by').fill(by);
  await page.locator('#decide-comment').fill(comment);
  await page.locator('#decide-submit').click();
  const error = page.locator('#decide-error');
  await Promise.race([dialog.waitFor({ state: 'hidden' }), error.waitFor({ state: 'visible' })]);
  return (await error.isVisible()) ? await error.textContent() : null;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mapek-ui-'));
  sim = await startSimulator({ port: 0, tickMs: 500 });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KNOWLEDGE_URL: `sqlite:${join(dir, 'k.db')}`,
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    CHARTER_URL: sim.url,
    PROMETHEUS_URL: 'http://127.0.0.1:9',
    MAPEK_QUEUE_PREFIX: `ui-${randomBytes(4).toString('hex')}`,
    MAPEK_ADMIN_TOKEN: TOKEN,
  };
  delete env.MAPEK_CONFIG; // the shipped pack, with the overrides below
  const packOverrides = { execute: { attempts: 2, backoff: '100ms', maxBackoff: '200ms' }, sensors: [], playbooks: { criticalViolation: { verifyFirstCheck: '1h' } } };
  mapek = await startMapek(loadConfig({ port: 0, packOverrides }, env), { logger: pino({ level: 'silent' }) });
  base = mapek.url!;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});

afterAll(async () => {
  await browser?.close();
  await mapek?.close();
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the inspection page', () => {
  it('asks for the admin token as HTTP basic auth, and serves itself with a strict CSP', async () => {
    for (const path of ['/', '/ui/app.js', '/ui/style.css']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate'), path).toMatch(/^Basic /);
    }
    const basic = `Basic ${Buffer.from(`anyone:${TOKEN}`).toString('base64')}`;
    const page = await fetch(`${base}/`, { headers: { authorization: basic } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${base}/ui/app.js`, { headers: auth })).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${base}/ui/..%2Fpage.ts`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${base}/`, { headers: { authorization: `Basic ${Buffer.from('alice:wrong').toString('base64')}` } })).status).toBe(401);

    // A browser without the token gets no page: with no credentials headless Chromium ends the
    // Basic challenge itself; with a wrong password it shows the 401.
    for (const httpCredentials of [undefined, { username: 'mallory', password: 'wrong' }]) {
      const stranger = await browser.newContext({ httpCredentials });
      const page = await stranger.newPage();
      const outcome = await page.goto(`${base}/`).then(
        (res) => `status ${res?.status()}`,
        (err: Error) => (/ERR_INVALID_AUTH_CREDENTIALS/.test(err.message) ? 'refused' : err.message),
      );
      expect(['status 401', 'refused']).toContain(outcome);
      expect(await page.locator('#incident-rows').count()).toBe(0);
      await stranger.close();
    }
  });

  it('shows the chain, takes two approvals, runs the removal once; pauses and resumes; hostile labels stay text', async () => {
    await alert(NODE, 'PERMANENT_BAN', `fp-${NODE}`);
    await alert(XSS, 'WARNING', 'fp-xss');
    const inc = await until('the removal to await approval', async () => {
      const i = await incidentOf(NODE);
      return i?.actions.some((a) => a.step === 'remove-node' && a.status === 'awaiting_approval') && i.actions.some((a) => a.step === 'notify-committee' && a.status === 'succeeded') ? i : undefined;
    });
    await until('the hostile incident', () => incidentOf(XSS));

    const context = await browser.newContext({ httpCredentials: { username: 'alice', password: TOKEN }, viewport: { width: 1500, height: 1000 } });
    const page = await context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    expect((await page.goto(`${base}/`))?.status()).toBe(200);

    // The list: newest first, with state, age and subject.
    const row = page.locator('tr.incident', { hasText: `node_or_service=${NODE}` });
    await row.waitFor();
    expect(await row.locator('a.subject').textContent()).toBe(`node_or_service=${NODE}`);
    expect(await row.textContent()).toContain(inc.state);
    expect(await row.locator('td.age').textContent()).toMatch(/^\d+s$|^\d+m \d+s$/);
    expect(await page.locator('tr.incident').first().locator('a.subject').textContent()).toBe(`node_or_service=${XSS}`);

    // Hostile labels render as text: no <img> anywhere in the list, the exact string shown.
    const xssRow = page.locator('tr.incident', { hasText: XSS });
    expect(await xssRow.locator('a.subject').textContent()).toBe(`node_or_service=${XSS}`);
    expect(await page.locator('img').count()).toBe(0);
    await xssRow.click();
    await page.locator('#detail .detail-head .subject', { hasText: XSS }).waitFor();
    expect(await page.locator('#detail img').count()).toBe(0);

    // Filter by state.
    await page.selectOption('#state-filter', 'resolved');
    await page.locator('#incident-rows', { hasText: 'no incidents' }).waitFor();
    await page.selectOption('#state-filter', '');
    await row.waitFor();

    // The banned node's incident: its chain and its statechart with the current state marked.
    await row.click();
    const detail = page.locator('#detail');
    await detail.locator('.detail-head .subject', { hasText: NODE }).waitFor();
    const current = detail.locator('svg.chart g.state.current');
    await current.waitFor();
    expect(await current.count()).toBe(1);
    const live = (await incidentOf(NODE))!;
    expect(await current.getAttribute('data-state')).toBe(live.plan!.state);
    expect(await detail.locator('svg.chart g.state').count()).toBeGreaterThanOrEqual(5);
    expect(await detail.locator('svg.chart g.transition.taken').count()).toBeGreaterThan(0);
    expect(await detail.locator('.any-state').textContent()).toContain('approval.rejected');
    const chain = (await detail.textContent())!;
    expect(chain).toContain(`fp-${NODE}`); // finding and observation fingerprint
    expect(chain).toContain('isBanSeverity ✓'); // guards evaluated, with results
    expect(chain).toContain('PERMANENT_BAN'); // evidence
    expect(chain).toContain('charter v1'); // policy
    expect(chain).toContain('removal-deadline'); // timers
    expect(chain).toContain(`mapek-${inc.id}-remove-node-1`); // idempotency key

    const removal = detail.locator('article.action[data-step="remove-node"]');
    expect(await removal.locator('.status').textContent()).toBe('awaiting_approval');
    expect(await removal.textContent()).toContain('0 of 2 approvals');

    // Alice approves; her second word is refused (409) and shown; Bob completes the quorum.
    expect(await decideInPage(page, 'approve', 'alice', 'evidence reviewed')).toBeNull();
    await removal.locator('.approvals', { hasText: '1 of 2 approvals' }).waitFor();
    expect(await removal.locator('.approvals').textContent()).toContain('approved by alice');
    expect(await revocations(NODE)).toHaveLength(0);
    const refused = await decideInPage(page, 'approve', 'alice', 'again');
    expect(refused).toMatch(/^409 /);
    await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-dialog.png') });
    expect(await decideInPage(page, 'approve', 'bob', 'agreed: remove it')).toBeNull();

    // The action runs: the page shows it succeeded, and the simulator holds exactly one revocation.
    await removal.locator('.status', { hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
    await until('the revocation', async () => ((await revocations(NODE)).length === 1 ? true : undefined));
    expect(await revocations(NODE)).toHaveLength(1);
    const approvals = (await removal.locator('.approvals li').allTextContents()).join('\n');
    expect(approvals).toMatch(/approved by alice at .*evidence reviewed/);
    expect(approvals).toMatch(/approved by bob at .*agreed: remove it/);
    expect(await removal.locator('button[data-decision]').count()).toBe(0);
    expect(await removal.textContent()).toContain('HTTP 201');

    // Pause for 2h, then resume, from the header.
    await page.locator('#pause-for').fill('2h');
    await page.locator('#pause-reason').fill('maintenance window');
    await page.locator('#pause').click();
    await page.locator('#loop-state[data-paused="true"]').waitFor();
    const paused = await api<{ pause: { paused: boolean; until?: string; reason?: string } }>('/api/loop');
    expect(paused.pause).toMatchObject({ paused: true, reason: 'maintenance window' });
    expect(Date.parse(paused.pause.until!) - Date.now()).toBeGreaterThan(7_100_000);
    expect(await page.locator('#loop-state').textContent()).toContain('maintenance window');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.locator('#resume').click();
    await page.locator('#loop-state[data-paused="false"]').waitFor();
    expect((await api<{ pause: { paused: boolean } }>('/api/loop')).pause.paused).toBe(false);

    expect(dialogs).toEqual([]); // nothing ever called alert()
    expect(pageErrors).toEqual([]);
    await context.close();
  });
});
