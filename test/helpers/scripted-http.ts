/** A small scripted HTTP server for actuator tests: answers whatever the test says, records every request. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
export type Reply = { status: number; headers?: Record<string, string>; body?: string; delayMs?: number } | 'hang';
export interface Scripted {
  url: string;
  seen: Seen[];
  reply: (req: Seen, n: number) => Reply;
  close(): Promise<void>;
}
export async function scripted(reply: Scripted['reply'] = () => ({ status: 200, body: 'ok' })): Promise<Scripted> {
  const seen: Seen[] = [];
  const s: Scripted = { url: '', seen, reply, close: async () => {} };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(r);
      const out = s.reply(r, seen.length);
      if (out === 'hang') return;
      const send = () => res.writeHead(out.status, out.headers).end(out.body ?? '');
      if (out.delayMs) setTimeout(send, out.delayMs);
      else send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return s;
}
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
