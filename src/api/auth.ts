/** Token checks in constant time: bearer header, or the password of HTTP basic auth (admin). */
import { createHash, timingSafeEqual } from 'node:crypto';

function same(a: string, b: string): boolean {
  // Hashing first gives equal lengths, so the comparison's time says nothing about the token.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** True when the Authorization header carries `Bearer <token>`. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m ? same(m[1]!, token) : false;
}

/** True for the bearer token or a basic-auth password equal to the token. */
export function adminMatches(header: string | undefined, token: string): boolean {
  if (bearerMatches(header, token)) return true;
  const m = header ? /^Basic\s+(.+)$/i.exec(header.trim()) : null;
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, 'base64').toString();
  const i = decoded.indexOf(':');
  return i >= 0 && same(decoded.slice(i + 1), token);
}
