/** `mapek approve|reject`: records the decision in knowledge, then wakes the loop through Redis. */
import { loadConfig, type Config } from '../config.ts';
import { LoopQueues, producerConnection } from '../execute/queues.ts';
import { withStore } from './store.ts';

/** Decides on one action; returns a line for the terminal. */
export async function decideFromCli(decision: 'approve' | 'reject', actionId: string, by: string, comment?: string): Promise<string> {
  const config = loadConfig();
  const { action, quorumReached } = await withStore((store) => store.decideApproval(actionId, decision, by, { comment, members: config.pack.committee.members }));
  const woke = await wakeLoop(config, async (queues) => {
    if (quorumReached) await queues.action(action.id, action.type);
    await queues.plan(action.incidentId, `a_${action.id}_${action.approvals.length}`);
  });
  const approvers = action.approvals.filter((a) => a.decision === 'approve').length;
  const state =
    decision === 'reject' ? 'rejected: the action will not run' : quorumReached ? 'quorum reached: the action runs now' : `${approvers} of ${action.quorum ?? 1} approvals`;
  return `${action.id} (${action.step} for incident ${action.incidentId}): ${state}${woke ? '' : ' (Redis unreachable: mapek picks it up within its reconcile interval)'}`;
}

/**
 * Wakes the loop through Redis after a CLI command recorded something in knowledge; false when
 * Redis is unreachable (mapek's periodic reconcile picks the work up anyway).
 */
export async function wakeLoop(config: Config, fn: (queues: LoopQueues) => Promise<void>): Promise<boolean> {
  const redis = producerConnection(config.redisUrl);
  const queues = new LoopQueues(config.queuePrefix, redis, config.pack.execute.attempts);
  try {
    await fn(queues);
    return true;
  } catch {
    return false;
  } finally {
    await queues.close();
    redis.disconnect();
  }
}
