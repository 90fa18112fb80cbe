/** HTTP plumbing shared by the simulator's routes: JSON errors, lenient JSON bodies, zod messages. */
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';

/** One line naming each field that failed validation, e.g. `node_or_service: Invalid input: expected string`. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') return `${issue.keys.join(', ')}: unknown field`;
      const field = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

/** Every error as `{"error": "..."}`, bad JSON as 400, and an empty JSON body as no body. */
export function installJsonErrors(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    const source = typeof text === 'string' ? text : text.toString('utf8');
    if (source.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(source) as unknown);
    } catch (err) {
      const error = new Error(`body: invalid JSON (${(err as Error).message})`) as Error & { statusCode: number };
      error.statusCode = 400;
      done(error, undefined);
    }
  });
  app.setErrorHandler((error: { statusCode?: number; message?: string }, _req, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    void reply.code(status).send({ error: error.message ?? 'internal error' });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0] ?? ''}` });
  });
}
