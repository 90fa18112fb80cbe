import { describe, expect, it } from 'vitest';
import { failed, ok, pack, Plan, rejected, timer } from './playbook-harness.ts';

const labels = { alertname: 'CommitteeOverloaded', severity: 'warning' };
const inv = (id: string, severity: string) => ({ id, severity, status: 'open', node_or_service: 'n' });

describe('committee-overloaded playbook', () => {
  it('notifies the chair, reads open investigations, holds each non-critical one, verifies the load', () => {
    const plan = new Plan('committee-overloaded', labels);
    expect(plan.last.actions).toEqual([
      { step: 'notify-chair', type: 'charter.notification', params: { severity: 'WARNING', summary: expect.stringContaining('non-critical'), recipients: ['committee-chair'] } },
    ]);
    expect(plan.send(ok('notify-chair')).actions).toEqual([{ step: 'read', type: 'charter.read', params: { path: '/api/investigations?status=open' } }]);
    const holds = plan.send(ok('read', { items: [inv('investigation-1', 'WARNING'), inv('investigation-2', 'PERMANENT_BAN'), inv('investigation-3', 'SUSPENSION')] }));
    expect(holds.to).toBe('acting');
    expect(holds.actions).toEqual([
      { step: 'hold-investigation-1', type: 'charter.investigation_hold', params: { id: 'investigation-1', by: 'mapek', reason: expect.any(String) } },
      { step: 'hold-investigation-3', type: 'charter.investigation_hold', params: { id: 'investigation-3', by: 'mapek', reason: expect.any(String) } },
    ]);
    expect(plan.context.skipped).toEqual(['investigation-2']);
    expect(plan.send(ok('hold-investigation-3')).to).toBe('acting');
    const v = plan.send(failed('hold-investigation-1', 'HTTP 404'));
    expect(v.to).toBe('verifying');
    expect(v.timers).toEqual([{ name: 'verify-check-1', delayMs: 60_000 }, { name: 'verify-deadline', delayMs: 900_000 }]);
    expect(plan.send(timer('verify-check-1')).actions[0]).toEqual({
      step: 'verify-1',
      type: 'prometheus.verify',
      params: { query: 'sum(westworld_charter_violations_under_investigation) <= bool 10', expect: 'positive' },
    });
    expect(plan.send(ok('verify-1', { holds: false })).timers).toEqual([{ name: 'verify-check-2', delayMs: 30_000 }]);
    plan.send(timer('verify-check-2'));
    expect(plan.send(ok('verify-2', { holds: true })).to).toBe('resolved');
  });

  it('nothing to hold: straight to verification; deadline escalates with a page', () => {
    const plan = new Plan('committee-overloaded', labels);
    plan.send(failed('notify-chair'));
    expect(plan.send(ok('read', { items: [inv('investigation-9', 'CRIMINAL_REFERRAL')] })).to).toBe('verifying');
    expect(plan.send(timer('verify-deadline')).actions[0]).toMatchObject({ step: 'page', type: 'page' });
  });

  it('every hold failing, or the read failing, escalates', () => {
    const a = new Plan('committee-overloaded', labels);
    a.send(ok('notify-chair'));
    a.send(ok('read', { items: [inv('investigation-1', 'WARNING')] }));
    expect(a.send(rejected('hold-investigation-1')).to).toBe('escalated');
    const b = new Plan('committee-overloaded', labels);
    b.send(ok('notify-chair'));
    expect(b.send(failed('read', 'HTTP 500')).to).toBe('escalated');
  });

  it('holds at most maxHolds', () => {
    const plan = new Plan('committee-overloaded', labels, { pack: pack({ playbooks: { committeeOverloaded: { maxHolds: 1 } } }) });
    plan.send(ok('notify-chair'));
    const r = plan.send(ok('read', { items: [inv('investigation-1', 'WARNING'), inv('investigation-3', 'WARNING')] }));
    expect(r.actions.map((a) => a.step)).toEqual(['hold-investigation-1']);
    expect(plan.context.skipped).toEqual(['investigation-3']);
  });
});
