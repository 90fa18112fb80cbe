/** How the pack starts a critical-violation plan: its routes and its input. */
import { parseDuration } from '../../../clock.ts';
import type { Pack } from '../../../config.ts';
import type { PlanStart } from '../types.ts';
import type { CriticalViolationInput } from './machine.ts';

/** Alerts that open this playbook, and the labels naming its subject. */
export function criticalViolationRoute(pack: Pack): { alertnames: string[]; subjectLabels: string[] } {
  const cv = pack.playbooks.criticalViolation;
  return { alertnames: cv.alertnames, subjectLabels: cv.subjectLabels };
}

/** The input a new plan starts from, under a given pack. */
export function criticalViolationInput(pack: Pack, start: PlanStart): CriticalViolationInput {
  const cv = pack.playbooks.criticalViolation;
  return {
    node: start.subject.node_or_service ?? Object.values(start.subject)[0] ?? 'unknown',
    alertname: start.labels.alertname ?? 'CriticalViolationDetected',
    labels: start.labels,
    recentIncidents: start.recentIncidents,
    settings: {
      severityLookupWindow: cv.severityLookupWindow,
      verifyWindow: cv.verifyWindow,
      verifyFirstCheckMs: parseDuration(cv.verifyFirstCheck),
      verifyIntervalMs: parseDuration(cv.verifyInterval),
      verifyDeadlineMs: parseDuration(cv.verifyDeadline),
      removalQuorum: cv.removalQuorum,
      removalApprovalDeadlineMs: parseDuration(cv.removalApprovalDeadline),
      recipients: pack.committee.recipients,
      flapMax: pack.flapGuard.max,
      flapWindow: pack.flapGuard.window,
    },
  };
}
