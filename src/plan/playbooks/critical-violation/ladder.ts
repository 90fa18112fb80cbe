/** The Charter's severity ladder (CHARTER.md) as pure functions. */
import type { ActionRequest } from '../../types.ts';

/** Charter severities from least to most severe. */
export const SEVERITIES = ['WARNING', 'SUSPENSION', 'BAN_1YEAR', 'PERMANENT_BAN', 'CRIMINAL_REFERRAL'] as const;
export type CharterSeverity = (typeof SEVERITIES)[number];

/** True for a value the Charter uses as a severity. */
export function isCharterSeverity(v: unknown): v is CharterSeverity {
  return typeof v === 'string' && (SEVERITIES as readonly string[]).includes(v);
}

/** The worst of the given severities, or undefined when none is a Charter severity. */
export function worstSeverity(values: readonly string[]): CharterSeverity | undefined {
  let worst = -1;
  for (const v of values) worst = Math.max(worst, SEVERITIES.indexOf(v as CharterSeverity));
  return worst < 0 ? undefined : SEVERITIES[worst];
}

/** True when the ladder asks to remove the node (with the approval gate). */
export function isBan(severity: CharterSeverity): boolean {
  return severity === 'BAN_1YEAR' || severity === 'PERMANENT_BAN';
}

/** What the playbook needs to build its steps. */
export interface LadderInput {
  node: string;
  severity: CharterSeverity;
  violationType: string;
  recipients: string[];
  alertname: string;
}

/**
 * The remediation steps, in order, for a severity: open an investigation, quarantine per the
 * ladder (SUSPENSION and worse; a referral is escalated to the committee at once), notify the committee.
 */
export function remediationSteps(input: LadderInput): ActionRequest[] {
  const { node, severity, violationType, recipients } = input;
  const steps: ActionRequest[] = [];
  if (severity === 'CRIMINAL_REFERRAL' || isBan(severity)) {
    steps.push({
      step: 'escalate-committee',
      type: 'charter.notification',
      params: {
        severity,
        summary: `ESCALATION: ${severity} violation by ${node}; committee action required`,
        recipients,
        node_or_service: node,
      },
    });
  }
  steps.push({
    step: 'investigate',
    type: 'charter.investigation',
    params: { violation_type: violationType, node_or_service: node, initiated_by: 'system', severity },
  });
  if (severity !== 'WARNING') {
    steps.push({
      step: 'quarantine',
      type: 'charter.quarantine',
      params: { node_or_service: node, reason: `${input.alertname}: ${severity} violations` },
    });
  }
  steps.push({
    step: 'notify-committee',
    type: 'charter.notification',
    params: {
      severity,
      summary: `${input.alertname}: ${node} (${severity}); investigation opened${severity === 'WARNING' ? '' : ', node quarantined'}`,
      recipients,
      node_or_service: node,
    },
  });
  return steps;
}

/** The removal of a banned node: waits for the committee's quorum, never runs by default. */
export function removalRequest(node: string, severity: CharterSeverity, quorum: number): ActionRequest {
  return {
    step: 'remove-node',
    type: 'charter.revocation',
    params: { node_or_service: node, reason: `${severity} violation`, scope: 'all' },
    approvalQuorum: quorum,
  };
}
