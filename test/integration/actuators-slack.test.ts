// The Slack actuator against real loopback HTTP servers: what arrives, how each answer is
// classified for retries, that a retried message is recognisable, and that the webhook URL (the
// credential) never appears in an outcome or an error.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PermanentActionError } from '../../src/errors.ts';
import { slackActuator, slackPayload, type SlackContext } from '../../src/execute/actuators/slack.ts';
import { RetryableActionError } from '../../src/execute/actuators/types.ts';
import type { ActionRecord } from '../../src/knowledge/store.ts';
import { closedPort, scripted, type Scripted } from '../helpers/scripted-http.ts';
import { startHttpSink, type HttpSink } from '../../src/stack/processes.ts';


function action(params: Record<string, unknown>, over: Partial<ActionRecord> = {}): ActionRecord {
  return {
    id: 'act_slack1',
    incidentId: 'inc_42',
    step: 'notify-security',
    iteration: 1,
    type: 'slack.message',
    params,
    status: 'running',
    attempts: 1,
    idempotencyKey: 'mapek-inc_42-notify-security-1',
    outcome: null,
    approvals: [],
    quorum: null,
    lastError: null,
    createdAt: '2030-01-01T00:00:00Z',
    updatedAt: '2030-01-01T00:00:00Z',
    ...over,
  };
}

const SECRET_PATH = '/services/T0SECRET/B0SECRET/XXXXhooksecretXXXX';
const base = { charterUrl: 'http://127.0.0.1:9', prometheusUrl: 'http://127.0.0.1:9', timeoutMs: 2000 };
const ctxFor = (url: string, extra: Record<string, string> = {}): SlackContext => ({ ...base, slack: { webhookUrls: { '#charter-security': url + SECRET_PATH, ...extra } } });

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

function expectNoSecret(x: unknown, ...secrets: string[]): void {
  const text = x instanceof Error ? x.message : JSON.stringify(x);
  for (const s of ['hooksecret', 'T0SECRET', SECRET_PATH, ...secrets]) expect(text).not.toContain(s);
}

let sink: HttpSink;
let srv: Scripted;
beforeAll(async () => {
  sink = await startHttpSink();
  srv = await scripted();
});
afterAll(async () => {
  await sink.stop();
  await srv.close();
});
afterEach(() => {
  sink.clear();
  srv.seen.length = 0;
  srv.reply = () => ({ status: 200, body: 'ok' });
});

describe('slack actuator, delivered', () => {
  it('posts one message with the text and the idempotency key to the channel webhook', async () => {
    const outcome = await slackActuator(action({ channel: '#charter-security', text: 'Node n7 quarantined (critical)' }), ctxFor(sink.url));
    expect(outcome).toEqual({ sent: true, channel: '#charter-security', status: 200, response: 'ok', idempotencyKey: 'mapek-inc_42-notify-security-1' });
    expect(sink.requests).toHaveLength(1);
    const req = sink.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(SECRET_PATH);
    expect(req.headers['content-type']).toMatch(/^application\/json/);
    const body = req.json as { text: string };
    expect(body.text).toContain('Node n7 quarantined (critical)');
    expect(body.text).toContain('idempotency key mapek-inc_42-notify-security-1');
    expectNoSecret(outcome);
  });

  it('finds a channel given without its #, and passes blocks with a context block naming the key', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*n7*' } }];
    await slackActuator(action({ channel: 'charter-security', summary: 'fallback text', blocks, username: 'mapek', icon_emoji: ':robot_face:' }), ctxFor(sink.url));
    const body = sink.requests[0]!.json as { text: string; blocks: Array<{ type: string; elements?: Array<{ text: string }> }>; username: string };
    expect(body.text).toContain('fallback text');
    expect(body.username).toBe('mapek');
    expect(body.blocks).toHaveLength(2);
    expect(body.blocks[1]!.type).toBe('context');
    expect(body.blocks[1]!.elements![0]!.text).toContain('mapek-inc_42-notify-security-1');
  });

  it('a retry after a timeout repeats the message, and both copies carry the same key', async () => {
    // Slack takes the message but answers after the deadline: the attempt fails, the retry posts again.
    srv.reply = (_req, n) => (n === 1 ? { status: 200, body: 'ok', delayMs: 800 } : { status: 200, body: 'ok' });
    const ctx = { ...ctxFor(srv.url), timeoutMs: 300 };
    const err = await failure(slackActuator(action({ channel: '#charter-security', text: 'hello' }), ctx));
    expect(err).toBeInstanceOf(RetryableActionError);
    expect(err.message).toContain('timed out');
    await slackActuator(action({ channel: '#charter-security', text: 'hello' }, { attempts: 2 }), ctx);
    expect(srv.seen).toHaveLength(2);
    const texts = srv.seen.map((r) => (JSON.parse(r.body) as { text: string }).text);
    expect(texts[0]).toBe(texts[1]);
    expect(texts[0]).toContain('mapek-inc_42-notify-security-1');
  });

  it('records a message as not sent when no Slack webhook is configured', async () => {
    expect(await slackActuator(action({ channel: '#charter-security', text: 'x' }), base)).toMatchObject({ sent: false, reason: expect.stringContaining('MAPEK_SLACK_WEBHOOKS') });
    const empty: SlackContext = { ...base, slack: { webhookUrls: {} } };
    expect(await slackActuator(action({ channel: '#x', text: 'x' }), empty)).toMatchObject({ sent: false });
  });

  it('uses the default channel when the action names none', async () => {
    const ctx: SlackContext = { ...base, slack: { webhookUrls: { '#ops': sink.url + '/ops' }, defaultChannel: '#ops' } };
    await slackActuator(action({ text: 'x' }), ctx);
    expect(sink.requests.map((r) => r.path)).toEqual(['/ops']);
  });
});

describe('slack actuator, failures', () => {
  it('429 with Retry-After is retryable after that long, and the error names the channel, not the URL', async () => {
    srv.reply = (req) => ({ status: 429, headers: { 'retry-after': '7' }, body: `rate_limited on ${req.path}` });
    const err = await failure(slackActuator(action({ channel: '#charter-security', text: 'x' }), ctxFor(srv.url)));
    expect(err).toBeInstanceOf(RetryableActionError);
    expect((err as RetryableActionError).retryAfterMs).toBe(7000);
    expect(err.message).toContain('#charter-security');
    expect(err.message).toContain('429');
    expectNoSecret(err, srv.url + SECRET_PATH);
  });

  it.each([
    [500, 'rollup_error', RetryableActionError],
    [503, 'unavailable', RetryableActionError],
    [408, 'timeout', RetryableActionError],
    [400, 'invalid_payload', PermanentActionError],
    [403, 'action_prohibited', PermanentActionError],
    [404, 'no_service', PermanentActionError],
    [410, 'channel_is_archived', PermanentActionError],
    [409, 'conflict', PermanentActionError],
  ])('%i %s is %o', async (status, body, kind) => {
    srv.reply = () => ({ status, body });
    const err = await failure(slackActuator(action({ channel: '#charter-security', text: 'x' }), ctxFor(srv.url)));
    expect(err).toBeInstanceOf(kind);
    expect(err.message).toContain(body);
    expectNoSecret(err);
    expect(srv.seen).toHaveLength(1);
  });

  it('does not follow a redirect (permanent)', async () => {
    srv.reply = (req) => (req.path === '/elsewhere' ? { status: 200, body: 'ok' } : { status: 302, headers: { location: '/elsewhere' } });
    const err = await failure(slackActuator(action({ channel: '#charter-security', text: 'x' }), ctxFor(srv.url)));
    expect(err).toBeInstanceOf(PermanentActionError);
    expect(srv.seen.map((r) => r.path)).toEqual([SECRET_PATH]);
  });

  it('a server that never answers is a retryable timeout; a refused connection is retryable', async () => {
    srv.reply = () => 'hang';
    const started = Date.now();
    const err = await failure(slackActuator(action({ channel: '#charter-security', text: 'x' }), { ...ctxFor(srv.url), timeoutMs: 300 }));
    expect(err).toBeInstanceOf(RetryableActionError);
    expect(Date.now() - started).toBeLessThan(2000);
    const port = await closedPort();
    const refused = await failure(slackActuator(action({ channel: '#charter-security', text: 'x' }), ctxFor(`http://127.0.0.1:${port}`)));
    expect(refused).toBeInstanceOf(RetryableActionError);
    expect(refused.message).toContain('ECONNREFUSED');
    expectNoSecret(refused);
  });

  it('a channel with no webhook is permanent, and nothing is sent', async () => {
    const err = await failure(slackActuator(action({ channel: '#random', text: 'x' }), ctxFor(sink.url)));
    expect(err).toBeInstanceOf(PermanentActionError);
    expect(err.message).toContain('#random');
    const proto = await failure(slackActuator(action({ channel: '__proto__', text: 'x' }), ctxFor(sink.url)));
    expect(proto).toBeInstanceOf(PermanentActionError);
    expect(sink.requests).toHaveLength(0);
  });

  it('never puts another channel’s webhook in an outcome either', async () => {
    const other = `${sink.url}/services/OTHER/OTHERSECRET`;
    const outcome = await slackActuator(action({ channel: '#charter-security', text: `see ${other}` }), ctxFor(sink.url, { '#ops': other }));
    expectNoSecret(outcome, 'OTHERSECRET');
  });
});

describe('slackPayload', () => {
  it('always ends the text with the key, even without text', () => {
    expect((slackPayload(action({})).text as string).endsWith('idempotency key mapek-inc_42-notify-security-1_')).toBe(true);
  });
});
