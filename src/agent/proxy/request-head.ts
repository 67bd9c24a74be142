/**
 * The proxy's own reading of an upgrade request head, so that a WebSocket
 * connection never gets Node's HTTP parser, IncomingMessage or ServerResponse.
 * It takes only the plainest form of a WebSocket upgrade: `GET`, HTTP/1.1,
 * CRLF line ends, token header names, no control characters, no
 * Content-Length or Transfer-Encoding, no header name given twice, and
 * `Connection: upgrade` with an `Upgrade` header. Every other head (a plain
 * request, an unusual or malformed one, a duplicate header) is left to
 * Node's HTTP server with its bytes intact, which answers it exactly as it
 * would have without this reader; so this reader can only ever agree with
 * llhttp, never widen what is accepted.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** What the upgrade path reads of a request: Node's IncomingMessage has it, and so does a head read here. */
export type UpgradeRequest = Pick<IncomingMessage, 'method' | 'url' | 'headers' | 'rawHeaders'> & { readonly socket: Socket };

/** Node's default limit for a request head (--max-http-header-size). A longer head goes to Node's server, which decides. */
export const MAX_HEAD = 16 * 1024;

/** The whole head: request line and header lines, each ending in CRLF (the blank line excluded). */
const HEAD = /^GET \/[-A-Za-z0-9._~:/?[\]@!$&'()*+,;=%]* HTTP\/1\.1\r\n(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*\r\n)*$/;
/** Node keeps at most this many headers of a request (its maxHeadersCount); a head with more is left to it. */
const MAX_HEADERS = 2000;

/** A partial head that cannot become one HEAD accepts: a byte no head may hold, a bare CR or LF, or not starting with "GET ". */
const NOT_A_HEAD_PREFIX = /[^\t\r\n\x20-\x7e\x80-\xff]|\r(?!\n|$)|(?:^|[^\r])\n/;
const GET_ = 'GET ';

/** Optional whitespace around a header value, as llhttp strips it. */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** Whether a comma-separated header value lists `token` (lower case), as llhttp reads Connection. */
function listsToken(value: string, token: string): boolean {
  const lower = value.toLowerCase();
  if (lower === token) return true;
  if (!lower.includes(token)) return false;
  for (const part of lower.split(',')) if (trimOws(part) === token) return true;
  return false;
}

/**
 * Whether `buf[0, length)`, a head still missing its blank line, may still
 * become one this reader takes; false means Node's server should have it now.
 */
export function mayBecomeUpgradeHead(buf: Buffer, length: number): boolean {
  const text = buf.toString('latin1', 0, length);
  const n = Math.min(text.length, GET_.length);
  return text.slice(0, n) === GET_.slice(0, n) && !NOT_A_HEAD_PREFIX.test(text);
}

/**
 * The upgrade request in `buf[0, end)` (the head without its final CRLF
 * CRLF: `end` is where "\r\n\r\n" starts), or undefined when Node's server
 * should read it.
 */
export function readUpgradeHead(buf: Buffer, end: number, socket: Socket): UpgradeRequest | undefined {
  const text = buf.toString('latin1', 0, end + 2);
  if (!HEAD.test(text)) return undefined;
  const firstEnd = text.indexOf('\r\n');
  const url = text.slice(4, firstEnd - 9);
  const rawHeaders: string[] = [];
  const headers: Record<string, string> = {};
  let upgrade = false;
  let connectionUpgrade = false;
  for (let at = firstEnd + 2; at < text.length;) {
    const lineEnd = text.indexOf('\r\n', at);
    const colon = text.indexOf(':', at);
    const name = text.slice(at, colon);
    const value = trimOws(text.slice(colon + 1, lineEnd));
    at = lineEnd + 2;
    const key = name.toLowerCase();
    // Node joins or drops repeated headers, by name; leave those heads to it.
    if (Object.hasOwn(headers, key) || key === '__proto__' || rawHeaders.length >= 2 * MAX_HEADERS) return undefined;
    if (key === 'content-length' || key === 'transfer-encoding') return undefined;
    if (key === 'upgrade') upgrade = true;
    else if (key === 'connection') connectionUpgrade = listsToken(value, 'upgrade');
    headers[key] = value;
    rawHeaders.push(name, value);
  }
  // Without both, llhttp reads a plain request (forwarded as such).
  if (!upgrade || !connectionUpgrade) return undefined;
  return { method: 'GET', url, headers, rawHeaders, socket };
}
