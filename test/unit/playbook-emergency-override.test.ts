import { describe, expect, it } from 'vitest';
import { activeOverrides, toRevoke } from '../../src/plan/playbooks/emergency-override/machine.ts';
import { acked, failed, ok, Plan, rejected, resolvedFinding, timer } from './playbook-harness.ts';

const labels = { alertname: 'EmergencyOverrideStayingActive', severity: 'critical' };
const override = (id: string, extensions = 0) => ({ id, status: 'active', extensions: Array.from({ length: extensions }, () => ({ minutes: 30 })) });

function waiting(items = [override('override-1'), override('override-2')]): Plan {
  const plan = new Plan('emergency-override', labels);
  const n = plan.send(ok('read-overrides', { items }));
  expect(n.to).toBe('awaiting');
  return plan;
}

describe('emergency-override playbook', () => {
  it('reads the active overrides, notifies the committee, waits 15 min for an acknowledgement', () => {
    const plan = new Plan('emergency-override', labels);
    expect(plan.last.actions).toEqual([{ step: 'read-overrides', type: 'charter.read', params: { path: '/api/overrides?status=active' } }]);
    const n = plan.send(ok('read-overrides', { items: [override('override-1')] }));
    expect(n.actions).toEqual([
      { step: 'notify-committee', type: 'charter.notification', params: { severity: 'CRITICAL', summary: expect.stringContaining('override-1'), recipients: ['audit-committee'] } },
    ]);
    expect(n.timers).toEqual([{ name: 'ack-deadline', delayMs: 900_000 }]);
    const a = plan.send(acked('alice'));
    expect(a.to).toBe('resolved');
    expect(plan.context.acknowledgedBy).toBe('alice');
  });

  it('nothing active at the Charter: resolved at once', () => {
    const plan = new Plan('emergency-override', labels);
    expect(plan.send(ok('read-overrides', { items: [] })).to).toBe('resolved');
  });

  it('without an acknowledgement, re-reads and revokes each override not extended, behind a quorum of 1', () => {
    const plan = waiting();
    expect(plan.send(timer('ack-deadline')).actions).toEqual([{ step: 'reread-overrides', type: 'charter.read', params: { path: '/api/overrides?status=active' } }]);
    // override-2 was extended meanwhile: only override-1 is revoked.
    const r = plan.send(ok('reread-overrides', { items: [override('override-1'), override('override-2', 1)] }));
    expect(r.to).toBe('revoking');
    expect(r.actions).toEqual([
      { step: 'revoke-override-1', type: 'charter.override_revoke', params: { id: 'override-1', by: 'mapek', reason: expect.any(String) }, approvalQuorum: 1 },
    ]);
    expect(r.timers).toEqual([{ name: 'revoke-deadline', delayMs: 1_800_000 }]);
    expect(plan.send(ok('revoke-override-1', { status: 200 })).to).toBe('resolved');
  });

  it('every override extended (or ended) by the deadline: resolved without revoking', () => {
    const plan = waiting([override('override-1')]);
    plan.send(timer('ack-deadline'));
    expect(plan.send(ok('reread-overrides', { items: [override('override-1', 2)] })).to).toBe('resolved');
  });

  it('a rejected revocation escalates; an unapproved one expires at its deadline and escalates', () => {
    const a = waiting([override('override-1')]);
    a.send(timer('ack-deadline'));
    a.send(ok('reread-overrides', { items: [override('override-1')] }));
    const r = a.send(rejected('revoke-override-1'));
    expect(r.to).toBe('escalated');
    expect(r.actions[0]).toMatchObject({ step: 'page', type: 'page' });

    const b = waiting([override('override-1'), override('override-2')]);
    b.send(timer('ack-deadline'));
    b.send(ok('reread-overrides', { items: [override('override-1'), override('override-2')] }));
    b.send(ok('revoke-override-1'));
    const d = b.send(timer('revoke-deadline'));
    expect(d.to).toBe('escalated');
    expect(d.expire).toEqual([{ step: 'revoke-override-2', reason: 'approval deadline passed without a quorum' }]);
  });

  it('a late acknowledgement lets the pending revocations lapse; a resolved finding ends the wait', () => {
    const a = waiting([override('override-1')]);
    a.send(timer('ack-deadline'));
    a.send(ok('reread-overrides', { items: [override('override-1')] }));
    const r = a.send(acked('carol'));
    expect(r.to).toBe('resolved');
    expect(r.expire).toEqual([{ step: 'revoke-override-1', reason: 'the incident was acknowledged' }]);
    expect(waiting().send(resolvedFinding()).to).toBe('resolved');
  });

  it('a failed re-read escalates; a failed first read still notifies', () => {
    const a = waiting();
    a.send(timer('ack-deadline'));
    expect(a.send(failed('reread-overrides')).to).toBe('escalated');
    const b = new Plan('emergency-override', labels);
    expect(b.send(failed('read-overrides')).to).toBe('awaiting');
  });

  it('pure helpers: active overrides and which to revoke', () => {
    const now = activeOverrides([override('a'), override('b', 1), { id: 'c', status: 'revoked' }]);
    expect(now).toEqual({ a: 0, b: 1 });
    expect(toRevoke({ a: 0, b: 0 }, now)).toEqual(['a']);
  });
});
