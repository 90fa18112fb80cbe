/** PolicyLoadFailure: reload the policy → verify the load timestamp moved → a second reload (iteration 2) → page. */
import { remediateVerifyMachine } from '../charter-common/remediate-verify.ts';

/** One machine of the remediate-then-verify family, with two attempts. */
export const policyLoadFailureMachine = remediateVerifyMachine('policy-load-failure');
