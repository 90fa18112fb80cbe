/** ForbiddenMetricSpike: quarantine that metric of the node → notify #charter-security → verify attempts stop → resolved | escalated (page). */
import { remediateVerifyMachine } from '../charter-common/remediate-verify.ts';

/** One machine of the remediate-then-verify family. */
export const forbiddenMetricSpikeMachine = remediateVerifyMachine('forbidden-metric-spike');
