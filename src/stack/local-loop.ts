/**
 * The whole loop on loopback: the simulator, mapek, Prometheus scraping both and evaluating the
 * Charter rules every second, Alertmanager sending to mapek's webhook. Used by the demo, the
 * end-to-end tests and the benchmarks.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { startSimulator, type RunningSimulator } from '../../sim/index.ts';
import { parseDuration } from '../clock.ts';
import { loadConfig, mergeDeep, type Config } from '../config.ts';
import { startMapek, type RunningMapek } from '../main.ts';
import { ensureBinaries } from './binaries.ts';
import { renderAlertmanagerConfig, renderPrometheusConfig } from './configs.ts';
import { ensureRedis, freePort, startAlertmanager, startHttpSink, startPrometheus, type HttpSink, type RedisHandle, type RunningService } from './processes.ts';

/** Pack settings for a local run: the loop closes in seconds instead of minutes. */
export const FAST_PACK = {
  playbooks: {
    criticalViolation: {
      verifyWindow: '10s',
      verifyFirstCheck: '3s',
      verifyInterval: '2s',
      verifyDeadline: '45s',
    },
  },
  execute: { backoff: '200ms', maxBackoff: '2s' },
};

/** Options of a local loop; everything has a default. */
export interface LocalLoopOptions {
  /** Pack overrides merged over FAST_PACK. */
  pack?: unknown;
  /** Ports; default free ports. */
  simPort?: number;
  mapekPort?: number;
  prometheusPort?: number;
  alertmanagerPort?: number;
  /** Start Prometheus and Alertmanager (default true); false gives sim + mapek only. */
  withPrometheus?: boolean;
  /** Start Alertmanager (default true): false leaves mapek to its sensors. */
  withAlertmanager?: boolean;
  /** Every sensor ticks this often, its `for` capped at the same (default 2s). */
  sensorInterval?: string;
  /** Alertmanager repeat_interval (default 10s, so re-sends happen during a run). */
  repeatInterval?: string;
  /** Simulator tick (default 1000 ms). */
  simTickMs?: number;
  logger?: Logger;
  /** Environment to read REDIS_URL from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Knowledge URL; default a fresh SQLite file in the run's temp dir. */
  knowledgeUrl?: string;
}

/** A running local loop. */
export interface LocalLoop {
  dir: string;
  config: Config;
  sim: RunningSimulator;
  mapek: RunningMapek;
  sink: HttpSink;
  redis: RedisHandle;
  prometheus?: RunningService;
  alertmanager?: RunningService;
  token: string;
  /** Stops Prometheus (if running) and starts it again on the same port and data directory. */
  restartPrometheus(): Promise<RunningService>;
  stop(): Promise<void>;
}

/** Starts every part on loopback; on failure, stops what it started before rethrowing. */
export async function startLocalLoop(opts: LocalLoopOptions = {}): Promise<LocalLoop> {
  const env = opts.env ?? process.env;
  const withPrometheus = opts.withPrometheus ?? true;
  const dir = mkdtempSync(join(tmpdir(), 'mapek-loop-'));
  const stops: Array<() => Promise<unknown>> = [async () => rmSync(dir, { recursive: true, force: true })];
  const stopAll = async () => {
    for (const fn of stops.reverse()) await fn().catch(() => {});
  };
  try {
    if (withPrometheus) await ensureBinaries(['prometheus', 'alertmanager']);
    const redis = await ensureRedis(env.REDIS_URL || 'redis://127.0.0.1:6379');
    stops.push(() => redis.stop());
    const sink = await startHttpSink();
    stops.push(() => sink.stop());
    const sim = await startSimulator({ port: opts.simPort ?? 0, tickMs: opts.simTickMs ?? 1000 });
    stops.push(() => sim.close());
    const promPort = opts.prometheusPort ?? (await freePort());
    const amPort = opts.alertmanagerPort ?? (await freePort());
    const token = randomBytes(16).toString('hex');
    const config = loadConfig(
      { port: opts.mapekPort ?? 0, packOverrides: mergeDeep(FAST_PACK, opts.pack) },
      {
        REDIS_URL: redis.url,
        PROMETHEUS_URL: `http://127.0.0.1:${promPort}`,
        KNOWLEDGE_URL: opts.knowledgeUrl ?? `sqlite:${join(dir, 'mapek.db')}`,
        CHARTER_URL: sim.url,
        MAPEK_WEBHOOK_TOKEN: token,
        MAPEK_QUEUE_PREFIX: `mapek-${randomBytes(4).toString('hex')}`,
        LOG_LEVEL: env.LOG_LEVEL || 'warn',
      },
    );
    const fast = opts.sensorInterval ?? '2s';
    for (const sensor of config.pack.sensors) {
      sensor.interval = fast;
      if (sensor.threshold.for && parseDuration(sensor.threshold.for) > parseDuration(fast)) sensor.threshold.for = fast;
    }
    const mapek = await startMapek(config, { logger: opts.logger });
    stops.push(() => mapek.close());
    let prometheus: RunningService | undefined;
    let promOptions: Parameters<typeof startPrometheus>[0] | undefined;
    let alertmanager: RunningService | undefined;
    if (withPrometheus && (opts.withAlertmanager ?? true)) {
      const am = renderAlertmanagerConfig({
        webhookUrl: `${mapek.url}/webhooks/alertmanager`,
        token,
        sinkUrl: sink.url,
        groupWait: '1s',
        groupInterval: '2s',
        repeatInterval: opts.repeatInterval ?? '10s',
      });
      alertmanager = await startAlertmanager({ dir: join(dir, 'alertmanager'), configYaml: am, port: amPort });
      stops.push(() => alertmanager!.stop());
    }
    if (withPrometheus) {
      const prom = renderPrometheusConfig({
        simTarget: sim.url,
        mapekTarget: mapek.url,
        alertmanagerUrl: alertmanager?.url ?? null,
        scrapeInterval: '1s',
        evaluationInterval: '1s',
        maxFor: '2s',
      });
      promOptions = { dir: join(dir, 'prometheus'), configYaml: prom.configYaml, ruleFiles: prom.ruleFiles, port: promPort };
      prometheus = await startPrometheus(promOptions);
      stops.push(() => handle.prometheus?.stop() ?? Promise.resolve());
    }
    const handle: LocalLoop = {
      dir,
      config,
      sim,
      mapek,
      sink,
      redis,
      prometheus,
      alertmanager,
      token,
      stop: stopAll,
      async restartPrometheus() {
        if (!promOptions) throw new Error('this local loop runs without Prometheus');
        await handle.prometheus?.stop();
        handle.prometheus = await startPrometheus(promOptions);
        return handle.prometheus;
      },
    };
    return handle;
  } catch (err) {
    await stopAll();
    throw err;
  }
}
