/** CommitteeOverloaded: notify the chair → read open investigations → hold each non-critical one → verify the load fell → resolved | page. */
import { fanoutVerifyMachine } from '../charter-common/fanout-verify.ts';

/** One machine of the read-then-act-on-each family. */
export const committeeOverloadedMachine = fanoutVerifyMachine('committee-overloaded');
