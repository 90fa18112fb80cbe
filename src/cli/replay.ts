/**
 * `mapek replay --since T [--policy FILE|DIR]`: runs the recorded events of every incident since T
 * through a policy version in shadow mode (pure plan steps, no effects) and lists the decisions
 * that would differ from the recorded ones.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadPack, type Pack } from '../config.ts';
import type { DecisionRecord, KnowledgeStore } from '../knowledge/store.ts';
import { playbooks } from '../plan/playbooks/index.ts';
import { startPlan, stepPlan } from '../plan/step.ts';
import type { PlanEvent, StepResult } from '../plan/types.ts';

/** One decision that would differ. */
export interface ReplayDifference {
  incidentId: string;
  step: number;
  event: string;
  recorded: { from: string; to: string; actions: string[] };
  replayed: { from: string; to: string; actions: string[] };
}

/** What a replay found. */
export interface ReplayReport {
  policy: { name: string; version: string; file?: string };
  incidents: number;
  decisions: number;
  differences: ReplayDifference[];
}

function describeAction(step: string, type: string, params: unknown): string {
  return `${step}(${type} ${JSON.stringify(params)})`;
}

function recordedActions(d: DecisionRecord): string[] {
  return ((d.actions as Array<{ step?: string; type?: string; params?: unknown; timer?: string; delayMs?: number }>) ?? []).map((a) =>
    a.step ? describeAction(a.step, a.type ?? '', a.params) : `timer:${a.timer}@${a.delayMs}ms`,
  );
}

function replayedActions(r: StepResult): string[] {
  return [...r.actions.map((a) => describeAction(a.step, a.type, a.params)), ...r.timers.map((t) => `timer:${t.name}@${t.delayMs}ms`)];
}

/** The pack of a policy argument: a YAML file, or a directory holding pack.yaml. */
export function policyPack(policy?: string): { pack: Pack; file?: string } {
  if (!policy) return { pack: loadPack() };
  const file = existsSync(policy) && statSync(policy).isDirectory() ? join(policy, 'pack.yaml') : policy;
  return { pack: loadPack(file), file };
}

/** Replays incidents opened since `since` under `pack`; compares state, actions and timers per step. */
export async function replay(store: KnowledgeStore, since: string, pack: Pack, file?: string): Promise<ReplayReport> {
  const report: ReplayReport = { policy: { name: pack.name, version: pack.version, file }, incidents: 0, decisions: 0, differences: [] };
  for (const { incident, events, decisions } of await store.replayInputs(since)) {
    const playbook = playbooks[incident.playbook];
    if (!playbook || events.length === 0) continue;
    report.incidents += 1;
    let snapshot: unknown;
    for (const [i, { event }] of events.entries()) {
      let result: StepResult;
      if (i === 0) {
        const opened = event as Extract<PlanEvent, { type: 'incident.opened' }>;
        const subject = { ...incident.labels };
        delete subject.alertname;
        // The flap count is not replayed: it depends on history outside this incident.
        result = startPlan(playbook, playbook.input(pack, { labels: opened.labels ?? incident.labels, subject, recentIncidents: 0 }));
      } else {
        result = stepPlan(playbook, snapshot, event);
      }
      snapshot = result.snapshot;
      const recorded = decisions[i];
      report.decisions += 1;
      const mine = { from: result.from, to: result.to, actions: replayedActions(result) };
      const theirs = recorded ? { from: recorded.from, to: recorded.to, actions: recordedActions(recorded) } : { from: '-', to: '-', actions: [] };
      if (mine.to !== theirs.to || mine.actions.join(',') !== theirs.actions.join(',')) {
        report.differences.push({ incidentId: incident.id, step: i + 1, event: event.type, recorded: theirs, replayed: mine });
      }
    }
  }
  return report;
}

/** The report as text for a terminal. */
export function formatReplay(r: ReplayReport): string {
  const lines = [`replayed ${r.incidents} incident(s), ${r.decisions} decision(s) under policy ${r.policy.name} v${r.policy.version}${r.policy.file ? ` (${r.policy.file})` : ''}: ${r.differences.length} would differ`];
  for (const d of r.differences) {
    lines.push(`  ${d.incidentId} step ${d.step} on ${d.event}:`);
    lines.push(`    recorded  ${d.recorded.from} → ${d.recorded.to}  [${d.recorded.actions.join(', ')}]`);
    lines.push(`    would be  ${d.replayed.from} → ${d.replayed.to}  [${d.replayed.actions.join(', ')}]`);
  }
  return lines.join('\n');
}
