/** `mapek demo`: the whole loop on the simulator, on loopback, narrated as it runs. */
import { pino } from 'pino';
import { MissingBinariesError } from '../stack/binaries.ts';
import { startLocalLoop, type LocalLoop } from '../stack/local-loop.ts';

interface DemoOptions {
  keepRunning?: boolean;
  node: string;
  severity: string;
  /** Give up after this long (default 240 s). */
  timeoutMs?: number;
  /** Where the narration goes (default stdout). */
  out?: (line: string) => void;
}

interface Incident {
  id: string;
  state: string;
  actions: Array<{ step: string; type: string; status: string; attempts: number; outcome: unknown }>;
  observations: Array<{ id: string; status: string; receivedAt: string }>;
  plan: { history: Array<{ from: string; to: string; event: { type?: string; step?: string; name?: string }; evidence: Record<string, unknown> }> } | null;
}

const get = async <T>(url: string): Promise<T> => {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return (await res.json()) as T;
};

/** Runs the demo; resolves with the final incident state. */
export async function runDemo(opts: DemoOptions): Promise<string> {
  const say = opts.out ?? ((line: string) => console.log(line));
  const t0 = Date.now();
  const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`;
  say('mapek demo: the MAPE-K loop on the Charter simulator, all on loopback');
  say('starting Redis (if needed), the simulator, mapek, Prometheus and Alertmanager ...');
  let loop: LocalLoop;
  try {
    loop = await startLocalLoop({ logger: pino({ level: 'silent' }) });
  } catch (err) {
    if (err instanceof MissingBinariesError) throw new Error(`Prometheus and Alertmanager are needed for the demo; install them with:\n  ${err.command}`, { cause: err });
    throw err;
  }
  let finalState: string;
  try {
    say(`  simulator     ${loop.sim.url}   (the Charter: metrics + actuator API)`);
    say(`  mapek         ${loop.mapek.url}   (webhook, API, loop, workers; knowledge ${loop.config.knowledgeUrl})`);
    say(`  prometheus    ${loop.prometheus!.url}   (scrapes every 1s, Charter rules every 1s)`);
    say(`  alertmanager  ${loop.alertmanager!.url}   (routes every alert to mapek's webhook)`);
    const node = opts.node;
    say(`${stamp()} injecting fault: violation_burst on ${node} (${opts.severity}, 2 violations/s)`);
    const res = await fetch(`${loop.sim.url}/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'violation_burst', node_or_service: node, severity: opts.severity }),
    });
    if (!res.ok) throw new Error(`the simulator refused the fault: ${res.status} ${await res.text()}`);

    const seen = new Set<string>();
    const once = (key: string, line: string) => {
      if (!seen.has(key)) {
        seen.add(key);
        say(`${stamp()} ${line}`);
      }
    };
    const deadline = Date.now() + (opts.timeoutMs ?? 240_000);
    let incident: Incident | undefined;
    while (Date.now() < deadline) {
      const alerts = await get<{ data: { alerts: Array<{ labels: Record<string, string>; state: string }> } }>(`${loop.prometheus!.url}/api/v1/alerts`).catch(() => null);
      for (const a of alerts?.data.alerts ?? []) {
        if (a.labels.node_or_service === node) once(`alert-${a.labels.alertname}-${a.state}`, `Prometheus: ${a.labels.alertname}{node_or_service="${node}"} is ${a.state}`);
      }
      const list = await get<{ items: Array<{ id: string }> }>(`${loop.mapek.url}/api/incidents?label=node_or_service=${encodeURIComponent(node)}`).catch(() => null);
      const id = list?.items[0]?.id;
      if (id) {
        incident = await get<Incident>(`${loop.mapek.url}/api/incidents/${id}`);
        for (const o of incident.observations) once(`obs-${o.id}`, `mapek: webhook received (alert ${o.status}), committed to knowledge, answered 202`);
        once(`incident-${id}`, `mapek: incident ${id} opened (playbook critical-violation)`);
        for (const [i, h] of (incident.plan?.history ?? []).entries()) {
          const why = h.event.step ?? h.event.name ?? '';
          const sev = i === 1 && h.evidence.severity ? `, severity ${String(h.evidence.severity)} from ${String(h.evidence.severitySource)}` : '';
          once(`plan-${i}`, `plan: ${h.from} → ${h.to}  on ${h.event.type}${why ? ` (${why})` : ''}${sev}`);
        }
        for (const a of incident.actions) {
          once(`act-${a.step}-${a.status}`, `execute: ${a.step} (${a.type}) ${a.status}${a.attempts > 1 ? ` after ${a.attempts} attempts` : ''}${a.type === 'prometheus.verify' && a.status === 'succeeded' ? ` — holds=${String((a.outcome as { holds?: boolean })?.holds)}` : ''}`);
        }
        for (const [collection, label] of [['investigations', 'investigation opened'], ['quarantines', 'node quarantined'], ['committee/notifications', 'committee notified']] as const) {
          const items = await get<{ items: Array<{ id: string; node_or_service?: string }> }>(`${loop.sim.url}/api/${collection}?node_or_service=${encodeURIComponent(node)}`).catch(() => null);
          for (const r of items?.items ?? []) once(`eff-${collection}-${r.id}`, `Charter: ${label} (${r.id})`);
        }
        if (incident.state === 'resolved' || incident.state === 'escalated') break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    finalState = incident?.state ?? 'no incident';
    say('');
    say(`summary after ${((Date.now() - t0) / 1000).toFixed(0)} s:`);
    if (!incident) say('  no incident was opened before the deadline: is the rule firing? (see Prometheus /alerts)');
    else {
      const count = async (c: string) => (await get<{ items: unknown[] }>(`${loop.sim.url}/api/${c}?node_or_service=${encodeURIComponent(node)}`)).items.length;
      say(`  incident ${incident.id}: ${incident.state}`);
      say(`  Alertmanager notifications received: ${incident.observations.length} (re-sends deduplicated)`);
      say(`  effects at the Charter: ${await count('investigations')} investigation, ${await count('quarantines')} quarantine, ${await count('committee/notifications')} committee notification`);
      say(`  plan steps recorded: ${incident.plan?.history.length ?? 0}; ask why with: curl ${loop.mapek.url}/api/incidents/${incident.id}`);
    }
    if (opts.keepRunning) {
      say('');
      say('--keep-running: everything stays up; Ctrl-C stops it.');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
  } finally {
    await loop.stop();
  }
  return finalState;
}
