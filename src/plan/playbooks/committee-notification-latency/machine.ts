/** CommitteeNotificationLatencySLA: fail notifications over to PagerDuty → verify the SLA holds → resolved (failover ended) | escalated. */
import { remediateVerifyMachine } from '../charter-common/remediate-verify.ts';

/** One machine of the remediate-then-verify family. */
export const committeeNotificationLatencyMachine = remediateVerifyMachine('committee-notification-latency');
