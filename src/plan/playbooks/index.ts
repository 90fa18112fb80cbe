/** The playbooks mapek can run; adding one is one folder and one line here. */
import { fanoutVerifyIncidentState } from './charter-common/fanout-verify.ts';
import { notifyWatchIncidentState } from './charter-common/notify-watch.ts';
import { remediateVerifyIncidentState } from './charter-common/remediate-verify.ts';
import { committeeNotificationLatencyInput, committeeNotificationLatencyRoute } from './committee-notification-latency/input.ts';
import { committeeNotificationLatencyMachine } from './committee-notification-latency/machine.ts';
import { committeeOverloadedInput, committeeOverloadedRoute } from './committee-overloaded/input.ts';
import { committeeOverloadedMachine } from './committee-overloaded/machine.ts';
import { criticalViolationInput, criticalViolationRoute } from './critical-violation/input.ts';
import { criticalViolationMachine } from './critical-violation/machine.ts';
import { dataRevocationSlaInput, dataRevocationSlaRoute } from './data-revocation-sla/input.ts';
import { dataRevocationSlaMachine } from './data-revocation-sla/machine.ts';
import { emergencyOverrideInput, emergencyOverrideRoute } from './emergency-override/input.ts';
import { emergencyOverrideIncidentState, emergencyOverrideMachine } from './emergency-override/machine.ts';
import { forbiddenMetricSpikeInput, forbiddenMetricSpikeRoute } from './forbidden-metric-spike/input.ts';
import { forbiddenMetricSpikeMachine } from './forbidden-metric-spike/machine.ts';
import { policyLoadFailureInput, policyLoadFailureRoute } from './policy-load-failure/input.ts';
import { policyLoadFailureMachine } from './policy-load-failure/machine.ts';
import { policyLoadFrequencyInput, policyLoadFrequencyRoute } from './policy-load-frequency/input.ts';
import { policyLoadFrequencyMachine } from './policy-load-frequency/machine.ts';
import { revocationBrakeInput, revocationBrakeRoute } from './revocation-brake/input.ts';
import { revocationBrakeIncidentState, revocationBrakeMachine } from './revocation-brake/machine.ts';
import type { Playbook } from './types.ts';
import { validationLatencySlaInput, validationLatencySlaRoute } from './validation-latency-sla/input.ts';
import { validationLatencySlaMachine } from './validation-latency-sla/machine.ts';
import { violationDigestInput, violationDigestRoute } from './violation-digest/input.ts';
import { violationDigestIncidentState, violationDigestMachine } from './violation-digest/machine.ts';

export type { Playbook, PlanStart } from './types.ts';

/** Every playbook, by name. */
export const playbooks: Record<string, Playbook> = {
  'critical-violation': {
    name: 'critical-violation',
    machine: criticalViolationMachine,
    incidentState: (v) =>
      v === 'verifying' ? 'verifying' : v === 'resolved' ? 'resolved' : v === 'escalated' ? 'escalated' : 'remediating',
    route: criticalViolationRoute,
    input: criticalViolationInput,
  },
  'forbidden-metric-spike': { name: 'forbidden-metric-spike', machine: forbiddenMetricSpikeMachine, incidentState: remediateVerifyIncidentState, route: forbiddenMetricSpikeRoute, input: forbiddenMetricSpikeInput },
  'validation-latency-sla': { name: 'validation-latency-sla', machine: validationLatencySlaMachine, incidentState: notifyWatchIncidentState, route: validationLatencySlaRoute, input: validationLatencySlaInput },
  'policy-load-failure': { name: 'policy-load-failure', machine: policyLoadFailureMachine, incidentState: remediateVerifyIncidentState, route: policyLoadFailureRoute, input: policyLoadFailureInput },
  'emergency-override': { name: 'emergency-override', machine: emergencyOverrideMachine, incidentState: emergencyOverrideIncidentState, route: emergencyOverrideRoute, input: emergencyOverrideInput },
  'committee-notification-latency': { name: 'committee-notification-latency', machine: committeeNotificationLatencyMachine, incidentState: remediateVerifyIncidentState, route: committeeNotificationLatencyRoute, input: committeeNotificationLatencyInput },
  'data-revocation-sla': { name: 'data-revocation-sla', machine: dataRevocationSlaMachine, incidentState: fanoutVerifyIncidentState, route: dataRevocationSlaRoute, input: dataRevocationSlaInput },
  'policy-load-frequency': { name: 'policy-load-frequency', machine: policyLoadFrequencyMachine, incidentState: notifyWatchIncidentState, route: policyLoadFrequencyRoute, input: policyLoadFrequencyInput },
  'committee-overloaded': { name: 'committee-overloaded', machine: committeeOverloadedMachine, incidentState: fanoutVerifyIncidentState, route: committeeOverloadedRoute, input: committeeOverloadedInput },
  'violation-digest': { name: 'violation-digest', machine: violationDigestMachine, incidentState: violationDigestIncidentState, route: violationDigestRoute, input: violationDigestInput },
  'revocation-brake': { name: 'revocation-brake', machine: revocationBrakeMachine, incidentState: revocationBrakeIncidentState, route: revocationBrakeRoute, input: revocationBrakeInput },
};
