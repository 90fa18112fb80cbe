/** ValidationLatencySLAViolation: notify #charter-sre → watch 30 min (a resolved finding ends it) → check p99 → resolved | page. */
import { notifyWatchMachine } from '../charter-common/notify-watch.ts';

/** One machine of the notify-then-watch family. */
export const validationLatencySlaMachine = notifyWatchMachine('validation-latency-sla');
