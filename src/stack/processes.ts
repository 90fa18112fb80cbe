/**
 * Starting and stopping the real services of a local stack (Prometheus, Alertmanager,
 * Redis, a sink for Slack and PagerDuty) for tests, the demo and the benchmarks. Every
 * service listens on 127.0.0.1 only, and every child is killed when it is stopped or, at
 * the latest, when this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBinaries } from './binaries.ts';
import { isLoopbackHost } from './configs.ts';

/** A service started by this module. */
export interface RunningService {
  /** Base URL, e.g. `http://127.0.0.1:9090`. */
  url: string;
  port: number;
  pid: number;
  /** Stops the service: SIGTERM, then SIGKILL after a grace period; resolves once it has exited. Safe to call twice. */
  stop(): Promise<void>;
  /** The service's recent stdout and stderr, for diagnosing a failed test. */
  logs(): string;
}

const LOG_LIMIT = 256 * 1024;
const DEFAULT_READY_TIMEOUT_MS = 30_000;
const DEFAULT_STOP_GRACE_MS = 10_000;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

// A test runner that exits (or crashes) without calling stop() must not leave a
// Prometheus holding a port and a temp dir; 'exit' handlers may only do synchronous work.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

interface ManagedChild {
  pid: number;
  hasExited(): boolean;
  describeExit(): string;
  logs(): string;
  tail(): string;
  stop(graceMs?: number): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function spawnManaged(binary: string, args: readonly string[], cwd: string): ManagedChild {
  installExitHook();
  const child = spawn(binary, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    if (output.length > LOG_LIMIT) output = output.slice(-LOG_LIMIT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let exitDescription: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      // A spawn failure (ENOENT, EACCES) emits 'error' and possibly no 'exit'.
      exitDescription ??= `failed to start: ${err.message}`;
      live.delete(child);
      resolve();
    });
    child.once('exit', (code, signal) => {
      exitDescription ??= signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
      live.delete(child);
      resolve();
    });
  });
  live.add(child);

  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid ?? -1,
    hasExited: () => exitDescription !== undefined,
    describeExit: () => exitDescription ?? 'running',
    logs: () => output,
    tail: () => output.split('\n').slice(-40).join('\n').slice(-6_000),
    stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      stopping ??= (async () => {
        if (exitDescription !== undefined) return;
        child.kill('SIGTERM');
        let grace: NodeJS.Timeout | undefined;
        const timer = new Promise<'timeout'>((resolve) => (grace = setTimeout(() => resolve('timeout'), graceMs)));
        const outcome = await Promise.race([exited.then(() => 'exited' as const), timer]);
        // The grace timer must not keep the process alive once the child is gone.
        clearTimeout(grace);
        if (outcome === 'timeout') {
          child.kill('SIGKILL');
          await exited;
        }
      })();
      return stopping;
    },
  };
}

async function waitUntilReady(
  name: string,
  child: ManagedChild,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.hasExited()) {
      throw new Error(`${name} ${child.describeExit()} before it was ready\n--- last output ---\n${child.tail()}`);
    }
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  await child.stop();
  throw new Error(`${name} was not ready within ${timeoutMs} ms (stopped it)\n--- last output ---\n${child.tail()}`);
}

async function httpReady(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await res.body?.cancel();
  return res.ok;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (another process may still take it first). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createTcpServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

/** Options of startPrometheus. */
export interface PrometheusStartOptions {
  /** Working directory (a temp dir): the config, the rule files and the TSDB go here. */
  dir: string;
  configYaml: string;
  /** Rule files by the names the config's `rule_files` uses, written next to it. */
  ruleFiles?: Record<string, string>;
  /** Default: a free port. */
  port?: number;
  /** Default 30 s. */
  readyTimeoutMs?: number;
  /** Appended to the command line, e.g. `--query.lookback-delta=30s`. */
  extraArgs?: readonly string[];
}

/** Runs Prometheus on 127.0.0.1 with the given config and waits until `/-/ready` answers. */
export async function startPrometheus(options: PrometheusStartOptions): Promise<RunningService> {
  const { prometheus } = await ensureBinaries(['prometheus']);
  const port = options.port ?? (await freePort());
  await mkdir(options.dir, { recursive: true });
  const configFile = join(options.dir, 'prometheus.yml');
  await writeFile(configFile, options.configYaml);
  for (const [name, content] of Object.entries(options.ruleFiles ?? {})) {
    await writeFile(join(options.dir, name), content);
  }
  const url = `http://127.0.0.1:${port}`;
  const child = spawnManaged(
    prometheus,
    [
      `--config.file=${configFile}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${join(options.dir, 'data')}`,
      '--web.enable-lifecycle',
      // Alerts carry generatorURL built from this; the default would name the host.
      `--web.external-url=${url}/`,
      ...(options.extraArgs ?? []),
    ],
    options.dir,
  );
  await waitUntilReady('prometheus', child, () => httpReady(`${url}/-/ready`), options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  return { url, port, pid: child.pid, stop: () => child.stop(), logs: child.logs };
}

/** Options of startAlertmanager. */
export interface AlertmanagerStartOptions {
  /** Working directory (a temp dir): the config and the silences/notification log go here. */
  dir: string;
  configYaml: string;
  /** Default: a free port. */
  port?: number;
  /** Default 30 s. */
  readyTimeoutMs?: number;
  /** Appended to the command line. */
  extraArgs?: readonly string[];
}

/** Runs Alertmanager on 127.0.0.1 (clustering off) and waits until `/-/ready` answers. */
export async function startAlertmanager(options: AlertmanagerStartOptions): Promise<RunningService> {
  const { alertmanager } = await ensureBinaries(['alertmanager']);
  const port = options.port ?? (await freePort());
  await mkdir(options.dir, { recursive: true });
  const configFile = join(options.dir, 'alertmanager.yml');
  await writeFile(configFile, options.configYaml);
  const url = `http://127.0.0.1:${port}`;
  const child = spawnManaged(
    alertmanager,
    [
      `--config.file=${configFile}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Empty disables the gossip mesh, which would otherwise listen on 0.0.0.0:9094.
      '--cluster.listen-address=',
      `--storage.path=${join(options.dir, 'am')}`,
      `--web.external-url=${url}/`,
      ...(options.extraArgs ?? []),
    ],
    options.dir,
  );
  await waitUntilReady('alertmanager', child, () => httpReady(`${url}/-/ready`), options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  return { url, port, pid: child.pid, stop: () => child.stop(), logs: child.logs };
}

/** One request a sink received. */
export interface SinkRequest {
  method: string;
  /** Path and query, e.g. `/slack/slack-security`. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json?: unknown;
}

/** A loopback HTTP server standing in for Slack and PagerDuty: answers 200 to every POST and keeps it. */
export interface HttpSink {
  url: string;
  port: number;
  /** Every POST received so far, oldest first. */
  requests: SinkRequest[];
  /** Resolves with the first request (already received or still to come) that matches. */
  waitFor(predicate: (request: SinkRequest) => boolean, timeoutMs?: number): Promise<SinkRequest>;
  clear(): void;
  stop(): Promise<void>;
}

const SINK_BODY_LIMIT = 16 * 1024 * 1024;

/** Starts an HttpSink on 127.0.0.1 (default: a free port). */
export function startHttpSink(port = 0): Promise<HttpSink> {
  const requests: SinkRequest[] = [];
  const waiters = new Set<(request: SinkRequest) => void>();
  const server = createHttpServer((req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= SINK_BODY_LIMIT) chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const request: SinkRequest = { method: req.method ?? 'POST', path: req.url ?? '/', headers: req.headers, body };
      try {
        request.json = JSON.parse(body);
      } catch {
        // Not JSON: the raw body is all there is.
      }
      requests.push(request);
      for (const notify of waiters) notify(request);
      // Slack answers "ok"; Alertmanager's PagerDuty notifier only looks at the status.
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const actual = typeof address === 'object' && address !== null ? address.port : port;
      resolve({
        url: `http://127.0.0.1:${actual}`,
        port: actual,
        requests,
        waitFor(predicate, timeoutMs = 15_000) {
          const seen = requests.find(predicate);
          if (seen !== undefined) return Promise.resolve(seen);
          return new Promise((resolveWait, rejectWait) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              rejectWait(new Error(`no matching request reached the sink within ${timeoutMs} ms (${requests.length} received)`));
            }, timeoutMs);
            const check = (request: SinkRequest): void => {
              if (!predicate(request)) return;
              clearTimeout(timer);
              waiters.delete(check);
              resolveWait(request);
            };
            waiters.add(check);
          });
        },
        clear() {
          requests.length = 0;
        },
        stop() {
          return new Promise<void>((resolveStop) => {
            server.close(() => resolveStop());
            server.closeAllConnections();
          });
        },
      });
    });
  });
}

interface RedisAddress {
  host: string;
  port: number;
  password?: string;
}

function redisAddress(url: string): RedisAddress {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:') throw new Error(`only redis:// URLs can be checked or started here, got ${url}`);
  const address: RedisAddress = {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: parsed.port === '' ? 6379 : Number(parsed.port),
  };
  if (parsed.password !== '') address.password = decodeURIComponent(parsed.password);
  return address;
}

function respCommand(...parts: string[]): string {
  return `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
}

/**
 * Whether a Redis server answers at `url` (a raw RESP PING, no client library). Any RESP
 * reply counts, an authentication error included: something is serving Redis there.
 */
export function pingRedis(url: string, timeoutMs = 1_000): Promise<boolean> {
  const { host, port, password } = redisAddress(url);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const finish = (answer: boolean): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => {
      socket.write((password === undefined ? '' : respCommand('AUTH', password)) + respCommand('PING'));
    });
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      // The first complete reply decides: RESP means Redis, anything else (an HTTP server) does not.
      if (received.includes('\r\n')) finish(/^[+\-:$*]/.test(received));
    });
    socket.once('end', () => finish(false));
  });
}

/** A Redis that answers; `stop` ends it only if ensureRedis started it. */
export interface RedisHandle {
  url: string;
  /** Whether ensureRedis started this server (false: it was already running). */
  started: boolean;
  stop(): Promise<void>;
  logs(): string;
}

/**
 * Makes sure Redis answers at `url`: if it already does, nothing is started; otherwise, for a
 * loopback URL, starts `redis-server` without persistence as a child of this process.
 */
export async function ensureRedis(
  url = 'redis://127.0.0.1:6379',
  options: { readyTimeoutMs?: number } = {},
): Promise<RedisHandle> {
  if (await pingRedis(url)) return { url, started: false, stop: async () => {}, logs: () => '' };
  const { host, port, password } = redisAddress(url);
  if (!isLoopbackHost(host)) throw new Error(`Redis at ${url} does not answer, and only a local one can be started here`);
  const { 'redis-server': redisServer } = await ensureBinaries(['redis-server']);
  const args = ['--port', String(port), '--bind', host === 'localhost' ? '127.0.0.1' : host, '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  if (password !== undefined) args.push('--requirepass', password);
  // No persistence, but redis-server still treats its cwd as its working dir.
  const child = spawnManaged(redisServer, args, tmpdir());
  await waitUntilReady('redis-server', child, () => pingRedis(url), options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  return { url, started: true, stop: () => child.stop(), logs: child.logs };
}
