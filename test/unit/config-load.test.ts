// Configuration: the shipped pack, override files merged over it, errors naming file and field,
// and the environment's names and defaults from DESIGN.md. Temp files only, never process.env.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, loadPack, mergeDeep, SHIPPED_PACK } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'mapek-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function yamlFile(text: string): string {
  const file = join(dir, `override-${++n}.yaml`);
  writeFileSync(file, text);
  return file;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('the shipped pack', () => {
  it('loads, autonomous and not dry-run, with the Charter playbook settings of CHARTER.md', () => {
    const pack = loadPack();
    expect(pack.name).toBe('charter');
    expect(pack.version).toBe('1');
    expect(pack.dryRun).toBe(false);
    expect(pack.committee).toEqual({ members: [], recipients: ['audit-committee'] });
    expect(pack.playbooks.criticalViolation).toEqual({
      alertnames: ['CriticalViolationDetected'],
      subjectLabels: ['node_or_service'],
      severityLookupWindow: '15m',
      verifyWindow: '1m',
      verifyFirstCheck: '30s',
      verifyInterval: '15s',
      verifyDeadline: '5m',
      removalQuorum: 2,
      removalApprovalDeadline: '30m',
    });
    expect(pack.execute.attempts).toBeGreaterThanOrEqual(1);
  });

  it('is found next to the sources', () => {
    expect(SHIPPED_PACK).toMatch(/packs[\\/]charter[\\/]pack\.yaml$/);
  });
});

describe('override files', () => {
  it('merge over the shipped pack key by key', () => {
    const file = yamlFile(`
committee:
  members: [alice, bob, carol]
playbooks:
  criticalViolation:
    verifyDeadline: 10m
    removalQuorum: 3
`);
    const pack = loadPack(file);
    expect(pack.committee.members).toEqual(['alice', 'bob', 'carol']);
    expect(pack.committee.recipients).toEqual(['audit-committee']); // kept from the shipped pack
    expect(pack.playbooks.criticalViolation.verifyDeadline).toBe('10m');
    expect(pack.playbooks.criticalViolation.removalQuorum).toBe(3);
    expect(pack.playbooks.criticalViolation.verifyInterval).toBe('15s'); // untouched sibling
    expect(pack.playbooks.criticalViolation.alertnames).toEqual(['CriticalViolationDetected']);
    expect(pack.name).toBe('charter');
  });

  it('an empty override file changes nothing', () => {
    expect(loadPack(yamlFile(''))).toEqual(loadPack());
  });

  it('can turn dry-run on', () => {
    expect(loadPack(yamlFile('dryRun: true\n')).dryRun).toBe(true);
  });

  it('a bad duration names the file and the field path', () => {
    const file = yamlFile(`
playbooks:
  criticalViolation:
    verifyWindow: soon
`);
    const err = configError(() => loadPack(file));
    expect(err.message).toContain(file);
    expect(err.message).toContain('playbooks.criticalViolation.verifyWindow');
  });

  it.each([
    ['a quorum of zero', 'playbooks:\n  criticalViolation:\n    removalQuorum: 0\n', 'playbooks.criticalViolation.removalQuorum'],
    ['no recipients', 'committee:\n  recipients: []\n', 'committee.recipients'],
    ['a string for a boolean', 'dryRun: "yes"\n', 'dryRun'],
    ['a bad backoff', 'execute:\n  backoff: 1 second\n', 'execute.backoff'],
    ['an empty member name', 'committee:\n  members: [alice, ""]\n', 'committee.members.1'],
  ])('%s is refused, naming %s', (_what, text, path) => {
    const file = yamlFile(text);
    const err = configError(() => loadPack(file));
    expect(err.message).toContain(file);
    expect(err.message).toContain(path);
  });

  it('a file that is not YAML is refused, naming the file', () => {
    const file = yamlFile('playbooks: [unclosed\n  : :');
    const err = configError(() => loadPack(file));
    expect(err.message).toContain(file);
  });

  it('a missing file is refused, naming the file', () => {
    const file = join(dir, 'does-not-exist.yaml');
    const err = configError(() => loadPack(file));
    expect(err.message).toContain(file);
  });

  it('overrides given in code merge last', () => {
    const file = yamlFile('playbooks:\n  criticalViolation:\n    verifyDeadline: 10m\n');
    const pack = loadPack(file, false, { playbooks: { criticalViolation: { verifyDeadline: '20m' } } });
    expect(pack.playbooks.criticalViolation.verifyDeadline).toBe('20m');
  });
});

describe('loadConfig and the environment', () => {
  it('has the defaults of DESIGN.md with an empty environment', () => {
    const cfg = loadConfig({}, {});
    expect(cfg.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(cfg.prometheusUrl).toBe('http://127.0.0.1:9090');
    expect(cfg.knowledgeUrl).toBe('sqlite:./data/mapek.db');
    expect(cfg.charterUrl).toBe('http://127.0.0.1:8000');
    expect(cfg.port).toBe(8080);
    expect(cfg.configFile).toBeUndefined();
    expect(cfg.webhookToken).toBeUndefined();
    expect(cfg.adminToken).toBeUndefined();
    expect(cfg.pack.dryRun).toBe(false);
    expect(cfg.pack).toEqual(loadPack());
  });

  it('reads the names DESIGN.md gives', () => {
    const file = yamlFile('playbooks:\n  criticalViolation:\n    verifyDeadline: 7m\n');
    const cfg = loadConfig(
      {},
      {
        MAPEK_CONFIG: file,
        REDIS_URL: 'redis://redis.internal:6380/4',
        PROMETHEUS_URL: 'http://thanos:10902/',
        KNOWLEDGE_URL: 'postgres://mapek@db/mapek',
        CHARTER_URL: 'https://charter.example/',
        MAPEK_WEBHOOK_TOKEN: 'wh-secret',
        MAPEK_ADMIN_TOKEN: 'adm-secret',
        PORT: '9123',
      },
    );
    expect(cfg.configFile).toBe(file);
    expect(cfg.pack.playbooks.criticalViolation.verifyDeadline).toBe('7m');
    expect(cfg.redisUrl).toBe('redis://redis.internal:6380/4'); // the database index is kept
    expect(cfg.prometheusUrl).toBe('http://thanos:10902');
    expect(cfg.knowledgeUrl).toBe('postgres://mapek@db/mapek');
    expect(cfg.charterUrl).toBe('https://charter.example');
    expect(cfg.webhookToken).toBe('wh-secret');
    expect(cfg.adminToken).toBe('adm-secret');
    expect(cfg.port).toBe(9123);
  });

  it('a --config option wins over MAPEK_CONFIG, and --port over PORT', () => {
    const a = yamlFile('playbooks:\n  criticalViolation:\n    verifyDeadline: 1m\n');
    const b = yamlFile('playbooks:\n  criticalViolation:\n    verifyDeadline: 2m\n');
    const cfg = loadConfig({ configFile: b, port: 7000 }, { MAPEK_CONFIG: a, PORT: '9000' });
    expect(cfg.pack.playbooks.criticalViolation.verifyDeadline).toBe('2m');
    expect(cfg.port).toBe(7000);
  });

  it.each(['1', 'true', 'TRUE', 'yes', 'on'])('MAPEK_DRY_RUN=%s turns dry-run on', (v) => {
    expect(loadConfig({}, { MAPEK_DRY_RUN: v }).pack.dryRun).toBe(true);
  });

  it.each(['0', 'false', 'no', ''])('MAPEK_DRY_RUN=%j leaves dry-run off', (v) => {
    expect(loadConfig({}, { MAPEK_DRY_RUN: v }).pack.dryRun).toBe(false);
  });

  it('MAPEK_DRY_RUN=1 wins over a file that says dryRun: false', () => {
    const file = yamlFile('dryRun: false\n');
    expect(loadConfig({ configFile: file }, { MAPEK_DRY_RUN: '1' }).pack.dryRun).toBe(true);
  });

  it('a bad config file named by MAPEK_CONFIG fails loadConfig with the file and field', () => {
    const file = yamlFile('playbooks:\n  criticalViolation:\n    verifyWindow: 5 minutes\n');
    const err = configError(() => loadConfig({}, { MAPEK_CONFIG: file }));
    expect(err.message).toContain(file);
    expect(err.message).toContain('playbooks.criticalViolation.verifyWindow');
  });

  it.each(['http', '-1', '65536', '80.5'])('PORT=%s is refused naming PORT', (v) => {
    const err = configError(() => loadConfig({}, { PORT: v }));
    expect(err.message).toContain('PORT');
  });

  it('empty variables count as unset', () => {
    const cfg = loadConfig({}, { REDIS_URL: '', PROMETHEUS_URL: '', KNOWLEDGE_URL: '', CHARTER_URL: '', MAPEK_WEBHOOK_TOKEN: '', MAPEK_ADMIN_TOKEN: '', MAPEK_CONFIG: '' });
    expect(cfg.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(cfg.prometheusUrl).toBe('http://127.0.0.1:9090');
    expect(cfg.knowledgeUrl).toBe('sqlite:./data/mapek.db');
    expect(cfg.charterUrl).toBe('http://127.0.0.1:8000');
    expect(cfg.webhookToken).toBeUndefined();
    expect(cfg.adminToken).toBeUndefined();
    expect(cfg.configFile || undefined).toBeUndefined();
  });

  // Like every other variable, an empty PORT (e.g. `PORT=${PORT}` in compose with PORT unset)
  // should mean the default 8080, not port 0 (a random port nobody can find).
  it('an empty PORT means the default port', () => {
    expect(loadConfig({}, { PORT: '' }).port).toBe(8080);
  });
});

describe('mergeDeep', () => {
  it('merges objects key by key, replaces arrays and scalars, keeps base for undefined', () => {
    const base = { a: { b: 1, c: [1, 2], d: { e: 'x' } }, f: true };
    const over = { a: { c: [9], d: { g: 'y' } }, f: undefined };
    expect(mergeDeep(base, over)).toEqual({ a: { b: 1, c: [9], d: { e: 'x', g: 'y' } }, f: true });
  });

  it('does not modify its inputs', () => {
    const base = { a: { b: 1 } };
    const over = { a: { c: 2 } };
    mergeDeep(base, over);
    expect(base).toEqual({ a: { b: 1 } });
    expect(over).toEqual({ a: { c: 2 } });
  });

  it('ignores __proto__, constructor and prototype keys from a file', () => {
    const over = JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted2": 1}}, "ok": 1}') as unknown;
    const out = mergeDeep({ keep: true }, over) as Record<string, unknown>;
    expect(out).toEqual({ keep: true, ok: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted2).toBeUndefined();
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  it('an override file with __proto__ keys does not pollute', () => {
    const file = yamlFile('__proto__:\n  polluted: yes\ncommittee:\n  __proto__:\n    polluted: yes\n');
    loadPack(file);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('merging over itself, or merging nothing, is the identity', () => {
    const json = fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }).filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k)), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 });
    fc.assert(
      fc.property(json, (obj) => {
        expect(mergeDeep(obj, {})).toEqual(obj);
        expect(mergeDeep(obj, undefined)).toEqual(obj);
        expect(mergeDeep(obj, obj)).toEqual(obj);
      }),
    );
  });

  it('every key of the override wins', () => {
    const scalar = fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }));
    const key = fc.constantFrom('a', 'b', 'c', 'd');
    fc.assert(
      fc.property(fc.dictionary(key, scalar), fc.dictionary(key, scalar), (base, over) => {
        const out = mergeDeep(base, over) as Record<string, unknown>;
        for (const [k, v] of Object.entries(over)) expect(out[k]).toEqual(v);
        for (const [k, v] of Object.entries(base)) if (!(k in over)) expect(out[k]).toEqual(v);
      }),
    );
  });
});
