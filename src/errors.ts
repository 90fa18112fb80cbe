/** The small set of coded errors, each mapped once at an edge (STYLE.md, habit 8). */

/** Bad input from outside: HTTP 400, never retried. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(message: string, readonly field?: string) {
    super(message);
  }
}

/** A dependency (knowledge store, Redis, Prometheus, the Charter) is down: HTTP 503, retried. */
export class UnavailableError extends Error {
  override readonly name = 'UnavailableError';
}

/** A configuration file or value is wrong: the process refuses to start, naming the file and field. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** An actuator call that must not be retried (a 4xx other than 408/409/429). */
export class PermanentActionError extends Error {
  override readonly name = 'PermanentActionError';
}

/** Races the promise against a deadline; rejects with UnavailableError naming what timed out. */
export async function withDeadline<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UnavailableError(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
