/** PolicyLoadFrequencyAnomaly: notify #charter-sre and hold policy reloads on cooldown → watch → check the load rate → resolved | page. */
import { notifyWatchMachine } from '../charter-common/notify-watch.ts';

/** One machine of the notify-then-watch family. */
export const policyLoadFrequencyMachine = notifyWatchMachine('policy-load-frequency');
