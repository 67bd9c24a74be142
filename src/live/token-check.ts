/**
 * The bearer-token check of the live page and its API. Besides
 * `Authorization: Bearer <token>` it accepts HTTP Basic with the token as
 * the password (any user name): a browser cannot send a bearer token on a
 * page load, but it asks for Basic credentials itself and then sends them on
 * every request of the page, its scripts and its event stream.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** The token given in `authorization` (Bearer, or Basic's password); undefined when none. */
function presentedToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  // The scheme is case-insensitive (RFC 7235 §2.1).
  const bearer = /^bearer +(.+)$/i.exec(authorization);
  if (bearer) return bearer[1];
  const basic = /^basic +([A-Za-z0-9+/=]+) *$/i.exec(authorization);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/** A check of requests against `token`; with no token every request passes. */
export function tokenCheck(token: string | undefined): (req: IncomingMessage, res: ServerResponse) => boolean {
  if (token === undefined) return () => true;
  const expected = digest(token);
  return (req, res) => {
    const given = presentedToken(req.headers.authorization);
    // Digests of equal length: the comparison takes the same time for any input.
    if (given !== undefined && timingSafeEqual(digest(given), expected)) return true;
    res.statusCode = 401;
    res.setHeader('WWW-Authenticate', ['Basic realm="ws-close-agent", charset="UTF-8"', 'Bearer realm="ws-close-agent"']);
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end('unauthorized: send "Authorization: Bearer <token>" (in a browser: any user name, the token as password)\n');
    return false;
  };
}
