// The email actuator against a real SMTP server (smtp-server on 127.0.0.1): what arrives (count,
// headers, Message-ID from the idempotency key, body), that a repeat is recognisable, how SMTP
// replies and connection failures are classified, and that the password never leaks.
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PermanentActionError } from '../../src/errors.ts';
import { classifySmtpError, emailActuator, emailMessage, messageIdFor, type EmailContext } from '../../src/execute/actuators/email.ts';
import { RetryableActionError } from '../../src/execute/actuators/types.ts';
import type { SmtpSettings } from '../../src/execute/outbound.ts';
import type { ActionRecord } from '../../src/knowledge/store.ts';

interface Received {
  from: string;
  to: string[];
  raw: string;
  user?: string;
}

interface Smtp {
  port: number;
  received: Received[];
  close(): Promise<void>;
}

/** An SMTP server with an error code per recipient: `<code>@...` is refused with that code. */
async function startSmtp(opts: SMTPServerOptions = {}): Promise<Smtp> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, cb) {
      const code = /^(\d{3})@/.exec(address.address)?.[1];
      if (code) return cb(Object.assign(new Error(`mailbox says ${code}`), { responseCode: Number(code) }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        if (raw.includes('REJECT-THIS-BODY')) return cb(Object.assign(new Error('content rejected'), { responseCode: 554 }));
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((a) => a.address),
          raw,
          user: session.user as string | undefined,
        });
        cb();
      });
    },
    ...opts,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A TCP server that does whatever `onSocket` says (stay silent, answer 421...). */
async function startTcp(onSocket: (s: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createTcpServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Header fields of a raw message, unfolded, by lower-case name. */
function headers(raw: string): Record<string, string> {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  const out: Record<string, string> = {};
  for (const line of head.split('\r\n')) {
    const i = line.indexOf(':');
    out[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}
/** The body of a single-part message, quoted-printable decoded when it is so encoded. */
function bodyOf(raw: string): string {
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  if (!/quoted-printable/i.test(headers(raw)['content-transfer-encoding'] ?? '')) return body;
  const bytes = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function action(params: Record<string, unknown>, over: Partial<ActionRecord> = {}): ActionRecord {
  return {
    id: 'act_mail1',
    incidentId: 'inc_42',
    step: 'notify-committee',
    iteration: 1,
    type: 'email.message',
    params,
    status: 'running',
    attempts: 1,
    idempotencyKey: 'mapek-inc_42-notify-committee-1',
    outcome: null,
    approvals: [],
    quorum: null,
    lastError: null,
    createdAt: '2030-01-01T00:00:00Z',
    updatedAt: '2030-01-01T00:00:00Z',
    ...over,
  };
}

const PASS = 'smtpPASSWORDsecret99';
const base = { charterUrl: 'http://127.0.0.1:9', prometheusUrl: 'http://127.0.0.1:9', timeoutMs: 3000 };
const settingsFor = (port: number, extra: Partial<SmtpSettings> = {}): SmtpSettings => ({ host: '127.0.0.1', port, secure: false, from: 'mapek <mapek@example.org>', ...extra });
const ctxFor = (port: number, extra: Partial<SmtpSettings> = {}, timeoutMs = 3000): EmailContext => ({ ...base, timeoutMs, smtp: settingsFor(port, extra) });

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the send to fail');
}
const expectNoSecret = (x: unknown) => {
  const text = x instanceof Error ? x.message : JSON.stringify(x);
  expect(text).not.toContain(PASS);
  expect(text).not.toContain(Buffer.from(PASS).toString('base64'));
  expect(text).not.toContain(Buffer.from(`\u0000mapek\u0000${PASS}`).toString('base64'));
};

let smtp: Smtp;
beforeAll(async () => {
  smtp = await startSmtp();
});
afterAll(async () => {
  await smtp.close();
});
afterEach(() => {
  smtp.received.length = 0;
});

describe('email actuator, delivered', () => {
  it('delivers one message with the Message-ID derived from the key, the key header, subject and body', async () => {
    const outcome = await emailActuator(
      action({ to: ['committee@example.org', 'audit@example.org'], cc: 'ops@example.org', subject: 'Node n7 quarantined', text: 'Critical violation on n7.\nQuarantine done.' }),
      ctxFor(smtp.port),
    );
    expect(outcome).toMatchObject({
      sent: true,
      messageId: '<mapek-inc_42-notify-committee-1@mapek>',
      accepted: ['committee@example.org', 'audit@example.org', 'ops@example.org'],
      rejected: [],
      idempotencyKey: 'mapek-inc_42-notify-committee-1',
    });
    expect(smtp.received).toHaveLength(1);
    const msg = smtp.received[0]!;
    expect(msg.from).toBe('mapek@example.org');
    expect(msg.to).toEqual(['committee@example.org', 'audit@example.org', 'ops@example.org']);
    const h = headers(msg.raw);
    expect(h['message-id']).toBe('<mapek-inc_42-notify-committee-1@mapek>');
    expect(h['x-mapek-idempotency-key']).toBe('mapek-inc_42-notify-committee-1');
    expect(h.subject).toBe('Node n7 quarantined');
    expect(h.from).toBe('mapek <mapek@example.org>');
    expect(h.to).toBe('committee@example.org, audit@example.org');
    expect(h.cc).toBe('ops@example.org');
    const body = bodyOf(msg.raw);
    expect(body).toContain('Critical violation on n7.');
    expect(body).toContain('idempotency key: mapek-inc_42-notify-committee-1');
    expect(msg.raw).toContain('idempotency key: mapek-inc_42-notify-committee-1');
  });

  it('a retried send delivers a second copy with the same Message-ID (recognisable as one action)', async () => {
    await emailActuator(action({ to: 'a@example.org', subject: 's', text: 't' }), ctxFor(smtp.port));
    await emailActuator(action({ to: 'a@example.org', subject: 's', text: 't' }, { attempts: 2 }), ctxFor(smtp.port));
    expect(smtp.received).toHaveLength(2);
    const ids = smtp.received.map((m) => headers(m.raw)['message-id']);
    expect(ids[0]).toBe('<mapek-inc_42-notify-committee-1@mapek>');
    expect(ids[1]).toBe(ids[0]);
  });

  it('uses the configured recipients when the action names none, and keeps a partial refusal as rejected', async () => {
    const outcome = await emailActuator(action({ summary: 'only a summary' }), ctxFor(smtp.port, { defaultTo: ['committee@example.org', '550@example.org'] }));
    expect(outcome).toMatchObject({ sent: true, accepted: ['committee@example.org'], rejected: ['550@example.org'] });
    expect(smtp.received).toHaveLength(1);
    expect(headers(smtp.received[0]!.raw).subject).toBe('only a summary');
  });

  it('authenticates, and the password appears nowhere in the outcome', async () => {
    const authed = await startSmtp({
      authOptional: false,
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _session, cb) {
        if (auth.username === 'mapek' && auth.password === PASS) return cb(null, { user: 'mapek' });
        cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      },
    });
    try {
      const outcome = await emailActuator(action({ to: 'a@example.org', text: `the password is not ${PASS.slice(0, 4)}` }), ctxFor(authed.port, { user: 'mapek', pass: PASS }));
      expect(outcome.sent).toBe(true);
      expect(authed.received).toHaveLength(1);
      expect(authed.received[0]!.user).toBe('mapek');
      expectNoSecret(outcome);
      // a wrong password is refused with 535: permanent, and the error does not carry it
      const err = await failure(emailActuator(action({ to: 'a@example.org' }), ctxFor(authed.port, { user: 'mapek', pass: `${PASS}-wrong` })));
      expect(err).toBeInstanceOf(PermanentActionError);
      expect(err.message).toContain('535');
      expect(err.message).not.toContain(`${PASS}-wrong`);
      // no credentials for a server that insists: permanent
      expect(await failure(emailActuator(action({ to: 'a@example.org' }), ctxFor(authed.port)))).toBeInstanceOf(PermanentActionError);
      expect(authed.received).toHaveLength(1);
    } finally {
      await authed.close();
    }
  });

  it('records a message as not sent when no SMTP server is configured', async () => {
    expect(await emailActuator(action({ to: 'a@example.org' }), base)).toMatchObject({ sent: false, reason: expect.stringContaining('MAPEK_SMTP_HOST') });
  });
});

describe('email actuator, failures', () => {
  it.each([
    ['550@example.org', PermanentActionError, '550'],
    ['553@example.org', PermanentActionError, '553'],
    ['450@example.org', RetryableActionError, '450'],
    ['452@example.org', RetryableActionError, '452'],
  ])('a recipient refused with %s is %o', async (to, kind, code) => {
    const err = await failure(emailActuator(action({ to }), ctxFor(smtp.port)));
    expect(err).toBeInstanceOf(kind);
    expect(err.message).toContain(code);
    expect(smtp.received).toHaveLength(0);
  });

  it('a message refused at DATA with 554 is permanent', async () => {
    const err = await failure(emailActuator(action({ to: 'a@example.org', text: 'REJECT-THIS-BODY' }), ctxFor(smtp.port)));
    expect(err).toBeInstanceOf(PermanentActionError);
    expect(err.message).toContain('554');
  });

  it('a 451 on MAIL FROM is retryable', async () => {
    const busy = await startSmtp({ onMailFrom: (_a, _s, cb) => cb(Object.assign(new Error('try later'), { responseCode: 451 })) });
    try {
      expect(await failure(emailActuator(action({ to: 'a@example.org' }), ctxFor(busy.port)))).toBeInstanceOf(RetryableActionError);
    } finally {
      await busy.close();
    }
  });

  it('a server greeting with 421 is retryable', async () => {
    const tcp = await startTcp((s) => s.end('421 mx.example.org Service not available, try later\r\n'));
    try {
      const err = await failure(emailActuator(action({ to: 'a@example.org' }), ctxFor(tcp.port)));
      expect(err).toBeInstanceOf(RetryableActionError);
    } finally {
      await tcp.close();
    }
  });

  it('a server that never greets is a retryable timeout within the action timeout', async () => {
    const tcp = await startTcp(() => {});
    try {
      const started = Date.now();
      const err = await failure(emailActuator(action({ to: 'a@example.org' }), ctxFor(tcp.port, {}, 400)));
      expect(err).toBeInstanceOf(RetryableActionError);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await tcp.close();
    }
  });

  it('a refused connection is retryable', async () => {
    const tcp = await startTcp(() => {});
    const port = tcp.port;
    await tcp.close();
    const err = await failure(emailActuator(action({ to: 'a@example.org' }), ctxFor(port, { user: 'mapek', pass: PASS })));
    expect(err).toBeInstanceOf(RetryableActionError);
    expectNoSecret(err);
  });

  it('requiring TLS from a server without STARTTLS is permanent', async () => {
    const err = await failure(emailActuator(action({ to: 'a@example.org' }), ctxFor(smtp.port, { requireTLS: true })));
    expect(err).toBeInstanceOf(PermanentActionError);
    expect(smtp.received).toHaveLength(0);
  });

  it('refuses recipients that are not plain addresses or outside the allowed domains, before connecting', async () => {
    for (const to of ['not an address', 'a@b@c', 'x@example.org\r\nBcc: evil@example.net', ['ok@example.org', 42]]) {
      expect(await failure(emailActuator(action({ to }), ctxFor(smtp.port)))).toBeInstanceOf(PermanentActionError);
    }
    const err = await failure(emailActuator(action({ to: 'someone@evil.example' }), ctxFor(smtp.port, { allowedDomains: ['example.org'] })));
    expect(err).toBeInstanceOf(PermanentActionError);
    expect(err.message).toContain('evil.example');
    expect(await emailActuator(action({ to: 'Someone@EXAMPLE.org' }), ctxFor(smtp.port, { allowedDomains: ['example.org'] }))).toMatchObject({ sent: true });
    expect(await failure(emailActuator(action({}), ctxFor(smtp.port)))).toBeInstanceOf(PermanentActionError);
    expect(smtp.received).toHaveLength(1);
  });
});

describe('message ids and classification', () => {
  it('keeps mapek keys as they are and escapes anything else, injectively', () => {
    expect(messageIdFor('mapek-inc_1-notify-1')).toBe('<mapek-inc_1-notify-1@mapek>');
    expect(messageIdFor('a b>c@d')).toBe('<a=20b=3Ec=40d@mapek>');
    expect(messageIdFor('a=20b')).not.toBe(messageIdFor('a b'));
    expect(messageIdFor('é')).toBe('<=C3=A9@mapek>');
  });

  it('a subject cannot carry a header line', () => {
    const m = emailMessage(action({ to: 'a@example.org', subject: 'hi\r\nBcc: evil@example.net' }), settingsFor(25));
    expect(m.subject).toBe('hi Bcc: evil@example.net');
  });

  it.each([
    [{ responseCode: 421, code: 'EENVELOPE' }, 'retryable'],
    [{ responseCode: 450 }, 'retryable'],
    [{ responseCode: 503, code: 'EPROTOCOL' }, 'retryable'],
    [{ responseCode: 550, code: 'EENVELOPE' }, 'permanent'],
    [{ responseCode: 535, code: 'EAUTH' }, 'permanent'],
    [{ responseCode: 554, permanent: true }, 'permanent'],
    [{ responseCode: 454, code: 'EAUTH', permanent: false }, 'retryable'],
    [{ code: 'ECONNECTION' }, 'retryable'],
    [{ code: 'ETIMEDOUT' }, 'retryable'],
    [{ code: 'ESOCKET' }, 'retryable'],
    [{ code: 'EDNS' }, 'retryable'],
    [{ code: 'EABORT' }, 'retryable'],
    [{ code: 'ENOAUTH' }, 'permanent'],
    [{ code: 'ETLS' }, 'permanent'],
    [{ code: 'ECONFIG' }, 'permanent'],
    [{}, 'retryable'],
  ])('%j is %s', (err, verdict) => {
    expect(classifySmtpError(Object.assign(new Error('x'), err))).toBe(verdict);
  });
});
