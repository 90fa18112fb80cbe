/** Analyze, for alerts: a firing alert becomes a finding routed to a playbook and a subject. Pure. */
import { stableId } from '../ids.ts';

/** One alert as Alertmanager sent it (the fields analyze reads). */
export interface AlertSignal {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  fingerprint: string;
  generatorURL?: string;
}

/** Which alerts open which playbook, and which labels name its subject. */
export interface PlaybookRoute {
  playbook: string;
  alertnames: string[];
  subjectLabels: string[];
}

/** What analyze concluded from one alert. */
export interface FindingDraft {
  id: string;
  fingerprint: string;
  name: string;
  kind: 'alert' | 'threshold' | 'anomaly' | 'burn_rate';
  severity: string;
  labels: Record<string, string>;
  evidence: Record<string, unknown>;
  /** Set when a playbook takes this finding; absent findings are recorded only. */
  route?: { playbook: string; subject: Record<string, string>; subjectKey: string };
  /** Why no playbook took it, when none did. */
  unrouted?: string;
}

/** The dedup key of one Alertmanager notification of one alert: fingerprint + status + startsAt. */
export function alertDedupKey(fingerprint: string, status: string, startsAt: string): string {
  return `am|${fingerprint}|${status}|${startsAt}`;
}

/** The subject key of an incident: its subject labels, sorted, as one string. */
export function subjectKey(subject: Record<string, string>): string {
  // JSON keeps values apart even when they contain "," or "=".
  return JSON.stringify(Object.keys(subject).sort().map((k) => [k, subject[k]]));
}

/** A firing alert → a finding (its id is stable across re-sends: fingerprint + startsAt); resolved → null. */
export function findingFromAlert(alert: AlertSignal, routes: readonly PlaybookRoute[]): FindingDraft | null {
  if (alert.status !== 'firing') return null;
  const name = alert.labels.alertname ?? 'unnamed';
  const finding: FindingDraft = {
    id: stableId('fnd', alert.fingerprint, alert.startsAt),
    fingerprint: alert.fingerprint,
    name,
    kind: 'alert',
    severity: alert.labels.severity ?? 'unknown',
    labels: alert.labels,
    evidence: {
      startsAt: alert.startsAt,
      summary: alert.annotations.summary,
      description: alert.annotations.description,
      generatorURL: alert.generatorURL,
    },
  };
  const route = routes.find((r) => r.alertnames.includes(name));
  if (!route) {
    finding.unrouted = `no playbook handles alert ${name}`;
    return finding;
  }
  const subject: Record<string, string> = {};
  const missing: string[] = [];
  for (const label of route.subjectLabels) {
    const v = alert.labels[label];
    if (v) subject[label] = v;
    else missing.push(label);
  }
  if (missing.length > 0) {
    finding.unrouted = `alert ${name} lacks subject label(s) ${missing.join(', ')}`;
    return finding;
  }
  finding.route = { playbook: route.playbook, subject, subjectKey: subjectKey(subject) };
  return finding;
}

/** The finding a resolved alert resolves (same fingerprint and startsAt), or null for a firing one. */
export function resolvedFindingId(alert: AlertSignal): string | null {
  return alert.status === 'resolved' ? stableId('fnd', alert.fingerprint, alert.startsAt) : null;
}
