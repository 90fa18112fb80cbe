/** Small statistics helpers for the benchmarks. */
import { readFileSync } from 'node:fs';
import { performance as perfHooks } from 'node:perf_hooks';

/** Nearest-rank percentile of `values` (not necessarily sorted); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Rounds to `digits` decimals (JSON-friendly; NaN becomes null). */
export function round(x: number, digits = 2): number | null {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** p50/p99/max of latencies in ms. */
export function latencySummary(ms: readonly number[]): { p50: number | null; p99: number | null; max: number | null; n: number } {
  return {
    p50: round(percentile(ms, 50)),
    p99: round(percentile(ms, 99)),
    // A loop, not Math.max(...ms): a fast phase records more samples than the stack takes arguments.
    max: round(ms.length ? ms.reduce((a, b) => (b > a ? b : a), -Infinity) : Number.NaN),
    n: ms.length,
  };
}

/** Progress on stderr (stdout carries the one JSON document). */
export function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** The in-flight levels a benchmark measures at: BENCH_CONCURRENCY (comma-separated), else `fallback`. */
export function concurrencyLevels(fallback = '16,64'): number[] {
  return (process.env.BENCH_CONCURRENCY || fallback).split(',').map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_CONCURRENCY: "${x}" is not a positive integer`);
    return n;
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Machine-wide busy and total jiffies from /proc/stat (null off Linux). */
function machineJiffies(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Resource use over one phase: event-loop utilization, cores this process used, machine busy fraction. */
export function phaseMeter(): () => { eventLoopUtilization: number | null; processCores: number | null; machineBusy: number | null } {
  const elu0 = perfHooks.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const m0 = machineJiffies();
  return () => {
    const elu = perfHooks.eventLoopUtilization(elu0);
    const cpu = process.cpuUsage(cpu0);
    const wallUs = (performance.now() - t0) * 1000;
    const m1 = machineJiffies();
    return {
      eventLoopUtilization: round(elu.utilization, 3),
      processCores: round((cpu.user + cpu.system) / wallUs, 2),
      machineBusy: m0 && m1 && m1.total > m0.total ? round((m1.busy - m0.busy) / (m1.total - m0.total), 3) : null,
    };
  };
}

/**
 * Runs a benchmark's `main`: its ONE JSON document on stdout, a failure on stderr with exit code 1;
 * then exits within 2 s even if a closed client left a timer referenced.
 */
export async function runBenchmark(main: () => Promise<unknown>): Promise<void> {
  try {
    const result = await main();
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    progress('done');
  } catch (err) {
    progress(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  }
  setTimeout(() => {
    progress(`exiting with ${process.getActiveResourcesInfo().join(', ') || 'nothing'} still pending`);
    process.exit(process.exitCode ?? 0);
  }, 2000).unref();
}
