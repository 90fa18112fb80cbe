/**
 * Email over SMTP (`email.message`) through nodemailer, one connection per message, with the
 * action's timeout on connecting, on the greeting, on every socket wait and on the whole send.
 *
 * Recognisable repeats: SMTP has no idempotency key, so an attempt that timed out after the server
 * took the message (or a worker killed mid-send) is retried and the message is delivered twice.
 * Both copies carry the same Message-ID, derived from the action's idempotency key
 * (`<KEY@mapek>`), the key in an `X-Mapek-Idempotency-Key` header and in the last line of the text,
 * so mail clients that collapse equal Message-IDs show one, and people can tell.
 *
 * Failures: an SMTP reply 4xx (and 503, a session out of step) or a connection, socket, DNS or
 * timeout error is retryable; a 5xx reply (recipient refused, authentication failed, message
 * rejected) is permanent, as are errors with no reply that retrying cannot fix (no credentials,
 * TLS required or failed, invalid envelope or configuration). Unknown errors are retried.
 *
 * The password never appears in an outcome or an error. Without SMTP configured the message is
 * recorded as not sent, as page.ts does.
 *
 * Params: `to` (an address or a list; default the configured recipients), optional `cc`,
 * `subject` (or `summary`), `text` (or `body`, or `summary`). Addresses are bare
 * (`name@example.org`); when `allowedDomains` is configured every recipient must be in one.
 */
import nodemailer from 'nodemailer';
import type { NodemailerError } from 'nodemailer';
import { PermanentActionError } from '../../errors.ts';
import type { ActionRecord } from '../../knowledge/store.ts';
import type { SmtpSettings } from '../outbound.ts';
import { redactOutcome, redactText } from '../outbound.ts';
import type { Actuator, ActuatorContext } from './types.ts';
import { RetryableActionError } from './types.ts';

/** The context as the email actuator reads it (ActuatorContext gains `smtp` when it is wired). */
export type EmailContext = ActuatorContext & { smtp?: SmtpSettings };

/**
 * The Message-ID of an action's email: `<KEY@mapek>`, the key kept as it is when it is made of
 * letters, digits, `-` and `_` (mapek's keys are), any other byte written `=HH`, so distinct keys
 * give distinct ids and every id is valid in a header.
 */
export function messageIdFor(idempotencyKey: string): string {
  let local = '';
  for (const byte of Buffer.from(idempotencyKey, 'utf8')) {
    const c = String.fromCharCode(byte);
    local += /[A-Za-z0-9_-]/.test(c) ? c : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return `<${local}@mapek>`;
}

const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function addresses(field: string, value: unknown, allowedDomains?: string[]): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((a) => {
    if (typeof a !== 'string' || a.length > 254 || !ADDRESS.test(a)) throw new PermanentActionError(`email.message: ${field}: ${JSON.stringify(String(a).slice(0, 80))} is not a plain email address`);
    const domain = a.slice(a.lastIndexOf('@') + 1).toLowerCase();
    if (allowedDomains && allowedDomains.length > 0 && !allowedDomains.some((d) => d.toLowerCase() === domain)) {
      throw new PermanentActionError(`email.message: ${field}: domain ${domain} is not allowed`);
    }
    return a;
  });
}

/** The message of an action (no I/O): who, subject, text, and the ids that make repeats recognisable. */
export function emailMessage(action: ActionRecord, settings: SmtpSettings) {
  const p = action.params;
  const to = addresses('to', p.to ?? settings.defaultTo, settings.allowedDomains);
  const cc = addresses('cc', p.cc, settings.allowedDomains);
  if (to.length === 0) throw new PermanentActionError('email.message: no recipients (params.to, or MAPEK_SMTP_TO)');
  const subject = String(p.subject ?? p.summary ?? `mapek: ${action.type} (${action.step})`).replace(/[\r\n]+/g, ' ').slice(0, 250);
  const body = String(p.text ?? p.body ?? p.summary ?? '');
  // ASCII on short lines, so the key stays readable (and greppable) in the raw message.
  const text = `${body}\n\n-- \nmapek, incident ${action.incidentId}, step ${action.step}\nidempotency key: ${action.idempotencyKey}\n`;
  return {
    from: settings.from,
    to,
    ...(cc.length > 0 ? { cc } : {}),
    subject,
    text,
    messageId: messageIdFor(action.idempotencyKey),
    headers: { 'X-Mapek-Idempotency-Key': action.idempotencyKey },
  };
}

const RETRYABLE_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'EABORT', 'EPROXY', 'EMAXLIMIT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);
const PERMANENT_CODES = new Set(['EAUTH', 'ENOAUTH', 'EOAUTH2', 'ECONFIG', 'ETLS', 'EREQUIRETLS', 'EENVELOPE', 'EMESSAGE', 'EMAXRECIPIENTS', 'EFILEACCESS', 'EURLACCESS', 'EOTP', 'EPROTOCOL']);

/** Whether a nodemailer error can go away on another attempt (see the header for the rules). */
export function classifySmtpError(err: unknown): 'retryable' | 'permanent' {
  const e = (err ?? {}) as Partial<NodemailerError>;
  if (typeof e.responseCode === 'number' && e.responseCode >= 400) {
    if (typeof e.permanent === 'boolean') return e.permanent ? 'permanent' : 'retryable';
    return e.responseCode >= 500 && e.responseCode !== 503 ? 'permanent' : 'retryable';
  }
  if (e.code && RETRYABLE_CODES.has(e.code)) return 'retryable';
  if (e.code && PERMANENT_CODES.has(e.code)) return 'permanent';
  return 'retryable';
}

/** The secrets of the settings, with the forms AUTH PLAIN and LOGIN put on the wire. */
function smtpSecrets(settings: SmtpSettings): string[] {
  if (!settings.pass) return [];
  const user = settings.user ?? '';
  return [settings.pass, Buffer.from(`\u0000${user}\u0000${settings.pass}`).toString('base64'), Buffer.from(`${user}\u0000${user}\u0000${settings.pass}`).toString('base64')];
}

/** Sends the action's email, reading `ctx.smtp`. */
export const emailActuator: Actuator = async (action, ctx) => {
  const settings = (ctx as EmailContext).smtp;
  if (!settings || !settings.host) {
    return redactOutcome({ sent: false, reason: 'no SMTP server configured (set MAPEK_SMTP_HOST)', idempotencyKey: action.idempotencyKey });
  }
  const secrets = smtpSecrets(settings);
  const message = emailMessage(action, settings);
  const transport = nodemailer.createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    requireTLS: settings.requireTLS ?? false,
    auth: settings.user ? { user: settings.user, pass: settings.pass ?? '' } : undefined,
    connectionTimeout: ctx.timeoutMs,
    greetingTimeout: ctx.timeoutMs,
    socketTimeout: ctx.timeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  });
  const where = `SMTP ${settings.host}:${settings.port}`;
  try {
    const info = await transport.sendMail({ ...message, signal: AbortSignal.timeout(ctx.timeoutMs) });
    return redactOutcome(
      {
        sent: true,
        messageId: info.messageId,
        accepted: (info.accepted ?? []).map(String),
        rejected: (info.rejected ?? []).map(String),
        response: info.response,
        idempotencyKey: action.idempotencyKey,
      },
      secrets,
    );
  } catch (err) {
    const e = err as NodemailerError;
    const why = e?.code === 'EABORT' ? `timed out after ${ctx.timeoutMs} ms` : (e?.message ?? String(err));
    const detail = redactText(`${where}: ${why}${e?.code ? ` (${e.code}${e.responseCode ? ` ${e.responseCode}` : ''})` : ''}`, secrets);
    if (classifySmtpError(err) === 'permanent') throw new PermanentActionError(detail);
    throw new RetryableActionError(detail);
  } finally {
    transport.close();
  }
};
