/** DataRevocationSLAViolation: read pending revocations → retry each (never a removal) → report to #charter-sre → verify the SLA → resolved | escalate to #charter-sre. */
import { fanoutVerifyMachine } from '../charter-common/fanout-verify.ts';

/** One machine of the read-then-act-on-each family. */
export const dataRevocationSlaMachine = fanoutVerifyMachine('data-revocation-sla');
