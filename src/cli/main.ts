/** The `mapek` command: one entry point for the controller, its workers, inspection and the simulator. */
import { Command, Option } from 'commander';
import { ConfigError } from '../errors.ts';

const program = new Command();
program
  .name('mapek')
  .description('An autonomic controller: a MAPE-K loop for systems watched by Prometheus (ships the Westworld Charter pack).')
  .version('0.1.0')
  .showHelpAfterError();

function fail(err: unknown): never {
  const e = err as Error;
  console.error(`mapek: ${e instanceof ConfigError ? 'configuration error: ' : ''}${e.message ?? String(e)}`);
  process.exit(e instanceof ConfigError ? 2 : 1);
}

async function runUntilSignal(close: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await close();
  process.exit(0);
}

program
  .command('start')
  .description('Run mapek: webhook intake and API, the loop (analyze, plan, timers) and execute workers')
  .option('--config <file>', 'policy config (YAML) merged over the shipped Charter pack')
  .option('--roles <roles>', 'comma-separated roles: api,loop,worker', 'api,loop,worker')
  .option('--port <n>', 'HTTP port (default 8080, or PORT)')
  .action(async (opts: { config?: string; roles: string; port?: string }) => {
    try {
      const { loadConfig } = await import('../config.ts');
      const { startMapek } = await import('../main.ts');
      const roles = opts.roles.split(',').map((r) => r.trim()).filter(Boolean);
      const bad = roles.filter((r) => !['api', 'loop', 'worker'].includes(r));
      if (bad.length) throw new ConfigError(`--roles: unknown role(s) ${bad.join(', ')} (expected api, loop, worker)`);
      const config = loadConfig({ configFile: opts.config, port: opts.port === undefined ? undefined : Number(opts.port) });
      const running = await startMapek(config, { roles: roles as Array<'api' | 'loop' | 'worker'> });
      await runUntilSignal(() => running.close());
    } catch (err) {
      fail(err);
    }
  });

program
  .command('worker')
  .description('Run execute workers only (scale out by adding processes against one Redis)')
  .option('--config <file>', 'policy config (YAML) merged over the shipped Charter pack')
  .action(async (opts: { config?: string }) => {
    try {
      const { loadConfig } = await import('../config.ts');
      const { startMapek } = await import('../main.ts');
      const running = await startMapek(loadConfig({ configFile: opts.config }), { roles: ['worker'] });
      await runUntilSignal(() => running.close());
    } catch (err) {
      fail(err);
    }
  });

const decisions = program.command('decisions').description('Inspect the decisions plans took, with why');
decisions
  .command('list')
  .description('List decisions, newest first')
  .option('--since <iso>', 'only decisions at or after this time')
  .option('--incident <id>', 'only decisions of this incident')
  .addOption(new Option('--json', 'print JSON').conflicts('jsonl'))
  .option('--jsonl', 'print one JSON object per line')
  .action(async (opts: { since?: string; incident?: string; json?: boolean; jsonl?: boolean }) => {
    try {
      const { withStore } = await import('./store.ts');
      await withStore(async (store) => {
        if (opts.since && Number.isNaN(Date.parse(opts.since))) throw new Error(`--since: not an ISO time: "${opts.since}"`);
        const page = await store.listDecisions({ since: opts.since ? new Date(opts.since).toISOString() : undefined, incident: opts.incident, limit: 10_000 });
        if (opts.jsonl) for (const d of page.items) console.log(JSON.stringify(d));
        else if (opts.json) console.log(JSON.stringify(page.items, null, 2));
        else {
          const { formatTable } = await import('./table.ts');
          console.log(formatTable(['at', 'incident', 'from → to', 'event', 'subject'], page.items.map((d) => [
            d.at,
            d.incidentId,
            `${d.from} → ${d.to}`,
            String((d.event as { type?: string }).type ?? ''),
            Object.entries(d.labels).filter(([k]) => k !== 'alertname').map(([k, v]) => `${k}=${v}`).join(','),
          ])));
        }
      });
    } catch (err) {
      fail(err);
    }
  });
decisions
  .command('show <id>')
  .description('Show one decision with its guards, evidence and actions')
  .option('--json', 'print JSON')
  .action(async (id: string, opts: { json?: boolean }) => {
    try {
      const { withStore } = await import('./store.ts');
      await withStore(async (store) => {
        const d = await store.getDecision(id);
        if (!d) throw new Error(`no decision ${id}`);
        if (opts.json) console.log(JSON.stringify(d, null, 2));
        else {
          console.log(`decision ${d.id}  (${d.at})\nincident ${d.incidentId}  machine ${d.machine}\n${d.from} → ${d.to} on ${JSON.stringify(d.event)}`);
          console.log(`guards:   ${JSON.stringify(d.guards)}\nevidence: ${JSON.stringify(d.evidence)}\nactions:  ${JSON.stringify(d.actions)}\npolicy:   ${JSON.stringify(d.policy)}`);
        }
      });
    } catch (err) {
      fail(err);
    }
  });

for (const decision of ['approve', 'reject'] as const) {
  program
    .command(`${decision} <actionId>`)
    .description(decision === 'approve' ? 'Approve an action that awaits approval (each member counts once toward its quorum)' : 'Reject an action that awaits approval')
    .requiredOption('--by <name>', 'the committee member deciding')
    .option('--comment <text>', 'why')
    .action(async (actionId: string, opts: { by: string; comment?: string }) => {
      try {
        const { decideFromCli } = await import('./approvals.ts');
        console.log(await decideFromCli(decision, actionId, opts.by, opts.comment));
      } catch (err) {
        fail(err);
      }
    });
}

program
  .command('detect')
  .description('Score a recorded series (timestamp,value CSV) for anomalies: prints timestamp,value,anomaly_score')
  .argument('[file]', 'CSV file: a timestamp,value header, then one row per sample in time order')
  .option('--detector <name>', 'anomaly detector (default: the recommended one; --list names them)')
  .option('--params <json>', 'detector parameters as a JSON object')
  .option('--list', 'list the detectors and their parameters, then exit')
  .action(async (file: string | undefined, opts: { detector?: string; params?: string; list?: boolean }) => {
    const { runDetect } = await import('./detect.ts');
    process.exitCode = await runDetect({ ...opts, file });
  });

const policy = program.command('policy').description('Policies and their tests');
policy
  .command('test')
  .description("Run policy tests (given observations → expect actions); without DIR, the shipped pack's tests")
  .argument('[dir]', 'directory of *.yaml policy tests (default: packs/charter/tests)')
  .option('--config <file>', 'policy config (YAML) merged over the shipped Charter pack')
  .option('--trace', 'print every plan step of failing tests')
  .action(async (dir: string | undefined, opts: { config?: string; trace?: boolean }) => {
    try {
      const { runPolicyTests } = await import('./policy-test.ts');
      process.exitCode = runPolicyTests({ dir, config: opts.config, trace: opts.trace });
    } catch (err) {
      fail(err);
    }
  });

program
  .command('backtest')
  .description("Run a policy's sensors over Prometheus range queries and list the findings they would have raised, with times")
  .option('--policy <file|dir>', 'the policy: a pack YAML (or a directory with pack.yaml) merged over the shipped pack')
  .requiredOption('--from <time>', 'start (ISO time, or a duration ago such as 2h)')
  .option('--to <time>', 'end (ISO time, or a duration ago; default now)')
  .option('--sensor <names>', 'comma-separated sensors (default all)')
  .option('--json', 'print JSON')
  .action(async (opts: { policy?: string; from: string; to?: string; sensor?: string; json?: boolean }) => {
    try {
      const { parseDuration } = await import('../clock.ts');
      const { loadConfig } = await import('../config.ts');
      const { policyPack } = await import('./replay.ts');
      const { createRangeQueryFn } = await import('../monitor/promql.ts');
      const { backtest, formatBacktest } = await import('./backtest.ts');
      const { formatTable } = await import('./table.ts');
      const when = (t: string, name: string) => {
        if (!Number.isNaN(Date.parse(t))) return Date.parse(t);
        try {
          return Date.now() - parseDuration(t);
        } catch {
          throw new Error(`--${name}: neither an ISO time nor a duration: "${t}"`);
        }
      };
      const from = when(opts.from, 'from');
      const to = opts.to ? when(opts.to, 'to') : Date.now();
      if (!(from < to)) throw new Error('--from must be before --to');
      const config = loadConfig();
      const { pack } = policyPack(opts.policy);
      const query = createRangeQueryFn({ url: config.prometheusUrl, auth: config.prometheusAuth, timeoutMs: 30_000 });
      const report = await backtest(pack, query, from, to, opts.sensor?.split(',').map((s) => s.trim()));
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatBacktest(report, formatTable));
      if (report.errors.length) process.exitCode = 1;
    } catch (err) {
      fail(err);
    }
  });

program
  .command('replay')
  .description('What-if: run stored incidents through a policy version in shadow mode and list the decisions that would differ')
  .requiredOption('--since <iso>', 'incidents opened at or after this time')
  .option('--policy <file|dir>', 'the policy to try: a pack YAML (or a directory with pack.yaml) merged over the shipped pack')
  .option('--json', 'print JSON')
  .action(async (opts: { since: string; policy?: string; json?: boolean }) => {
    try {
      if (Number.isNaN(Date.parse(opts.since))) throw new Error(`--since: not an ISO time: "${opts.since}"`);
      const { withStore } = await import('./store.ts');
      const { policyPack, replay, formatReplay } = await import('./replay.ts');
      const { pack, file } = policyPack(opts.policy);
      const report = await withStore((store) => replay(store, new Date(opts.since).toISOString(), pack, file));
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatReplay(report));
    } catch (err) {
      fail(err);
    }
  });

program
  .command('retention')
  .description('Retention of the knowledge store')
  .command('apply')
  .description('Archive (JSON lines) and prune incidents closed longer ago than the pack\'s retention; the chain still verifies')
  .option('--older-than <duration>', "override the pack's retention (e.g. 30d)")
  .option('--archive <file>', 'where to append the archived incidents', './data/archive.jsonl')
  .action(async (opts: { olderThan?: string; archive: string }) => {
    try {
      const { parseDuration } = await import('../clock.ts');
      const { loadConfig } = await import('../config.ts');
      const { appendFile, mkdir } = await import('node:fs/promises');
      const { dirname } = await import('node:path');
      const keep = parseDuration(opts.olderThan ?? loadConfig().pack.retention);
      const cutoff = new Date(Date.now() - keep).toISOString();
      await mkdir(dirname(opts.archive), { recursive: true });
      const { withStore } = await import('./store.ts');
      const res = await withStore((store) => store.applyRetention(cutoff, (chain) => appendFile(opts.archive, JSON.stringify(chain) + '\n')));
      console.log(`retention: ${res.incidents} incident(s) closed before ${cutoff} archived to ${opts.archive} and pruned (${res.rowsDeleted} rows, ${res.linksPruned} links behind checkpoint ${res.checkpoint ?? '-'})`);
    } catch (err) {
      fail(err);
    }
  });

program
  .command('audit')
  .description('Tamper evidence of the knowledge store')
  .command('verify')
  .description("Check the hash chain and every table the API reads against it; exits 1 on any edit, insertion or deletion")
  .option('--json', 'print JSON')
  .action(async (opts: { json?: boolean }) => {
    try {
      const { withStore } = await import('./store.ts');
      const report = await withStore((store) => store.verifyAudit());
      if (opts.json) console.log(JSON.stringify(report, null, 2));
      else if (report.ok) console.log(`audit: ok — ${report.links} links, ${report.rows} rows verified`);
      else {
        console.log(`audit: FAILED — ${report.problems.length} problem(s) in ${report.links} links and ${report.rows} rows:`);
        for (const p of report.problems.slice(0, 200)) console.log(`  ${p}`);
        if (report.problems.length > 200) console.log(`  ... and ${report.problems.length - 200} more`);
      }
      process.exitCode = report.ok ? 0 : 1;
    } catch (err) {
      fail(err);
    }
  });

program
  .command('ack <incidentId>')
  .description('Acknowledge an incident (e.g. an emergency override that may stay): its plan hears it')
  .requiredOption('--by <name>', 'who acknowledges')
  .option('--comment <text>', 'why')
  .action(async (incidentId: string, opts: { by: string; comment?: string }) => {
    try {
      const { withStore } = await import('./store.ts');
      const { wakeLoop } = await import('./approvals.ts');
      const { loadConfig } = await import('../config.ts');
      const res = await withStore((store) => store.acknowledge(incidentId, opts.by, opts.comment));
      await wakeLoop(loadConfig(), (queues) => queues.plan(incidentId, `ack_${Date.now().toString(36)}`));
      console.log(res.first ? `acknowledged ${incidentId} as ${opts.by}` : `${opts.by} had already acknowledged ${incidentId}`);
    } catch (err) {
      fail(err);
    }
  });

program
  .command('pause')
  .description('Pause every action that would change the world (reads go on), for a while or until `mapek resume`')
  .option('--for <duration>', 'e.g. 2h; without it, until resumed')
  .option('--by <name>', 'who pauses')
  .option('--reason <text>', 'why')
  .action(async (opts: { for?: string; by?: string; reason?: string }) => {
    try {
      const { parseDuration } = await import('../clock.ts');
      const untilMs = opts.for ? Date.now() + parseDuration(opts.for) : undefined;
      const { withStore } = await import('./store.ts');
      const state = await withStore((store) => store.setPause({ paused: true, untilMs, by: opts.by, reason: opts.reason }));
      console.log(`paused${state.until ? ` until ${state.until}` : ' until resumed'}`);
    } catch (err) {
      fail(err);
    }
  });

program
  .command('resume')
  .description('End a pause')
  .option('--by <name>', 'who resumes')
  .action(async (opts: { by?: string }) => {
    try {
      const { withStore } = await import('./store.ts');
      await withStore((store) => store.setPause({ paused: false, by: opts.by }));
      console.log('resumed');
    } catch (err) {
      fail(err);
    }
  });

program
  .command('brake')
  .description('The safety brake')
  .command('release')
  .description('Release the safety brake: Charter calls no longer wait for approval')
  .requiredOption('--by <name>', 'who releases it')
  .option('--reason <text>', 'why')
  .action(async (opts: { by: string; reason?: string }) => {
    try {
      const { withStore } = await import('./store.ts');
      await withStore((store) => store.setBrake({ engaged: false, by: opts.by, reason: opts.reason }));
      console.log('brake released');
    } catch (err) {
      fail(err);
    }
  });

program
  .command('sim')
  .description('Run the Charter simulator: the 15 Charter metrics, the actuator API and fault injection')
  .addOption(new Option('--port <n>', 'port to listen on').default('8000'))
  .addOption(new Option('--host <addr>', 'address to bind').default('127.0.0.1'))
  .action(async (opts: { port: string; host: string }) => {
    const { runSimulatorCommand } = await import('../../sim/index.ts');
    await runSimulatorCommand({ port: Number(opts.port), host: opts.host });
  });

program
  .command('demo')
  .description('Show the whole loop on the simulator, on loopback: alert → webhook → incident → plan → actions → verified')
  .option('--keep-running', 'leave the stack running after the summary')
  .option('--node <name>', 'the node that bursts violations', 'node-westworld-7')
  .option('--severity <s>', 'the Charter severity of the burst', 'SUSPENSION')
  .action(async (opts: { keepRunning?: boolean; node: string; severity: string }) => {
    try {
      const { runDemo } = await import('./demo.ts');
      const state = await runDemo(opts);
      // The demo is also a smoke test of a new machine: say so when the loop did not close.
      if (state !== 'resolved' && state !== 'escalated') process.exitCode = 1;
    } catch (err) {
      fail(err);
    }
  });

await program.parseAsync(process.argv);
