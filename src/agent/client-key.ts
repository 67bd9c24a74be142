/**
 * --client-key: where the agent reads a connection's client key for
 * reconnect tracking. The key text is handed to the keyed hash and nowhere
 * else: it is never logged, labelled or kept.
 */
import type { IncomingMessage } from 'node:http';

export type ClientKeySpec = { readonly source: 'ip' } | { readonly source: 'header' | 'cookie' | 'query'; readonly name: string };

/** HTTP token characters (RFC 9110 §5.6.2): header and cookie names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Longest NAME accepted (a header or cookie name longer than this is a typo). */
const MAX_NAME = 256;

/** The spec of `text`, or a sentence saying what is wrong with it. */
export function parseClientKey(text: string): ClientKeySpec | string {
  const expected = 'expected ip, header:NAME, cookie:NAME or query:NAME';
  const value = text.trim();
  if (value === 'ip') return { source: 'ip' };
  const colon = value.indexOf(':');
  if (colon < 0) return expected;
  const source = value.slice(0, colon);
  const name = value.slice(colon + 1);
  if (source !== 'header' && source !== 'cookie' && source !== 'query') return expected;
  if (name === '') return `${expected}: ${source}: needs a NAME`;
  if (name.length > MAX_NAME) return `${expected}: the NAME is longer than ${MAX_NAME} characters`;
  if (source !== 'query' && !TOKEN.test(name)) return `${expected}: ${JSON.stringify(name)} is not a valid ${source} name`;
  if (source === 'query' && /[\s&=#]/.test(name)) return `${expected}: ${JSON.stringify(name)} is not a valid query parameter name`;
  return { source, name: source === 'header' ? name.toLowerCase() : name };
}

function cookieValue(header: string, name: string): string | undefined {
  // "a=1; b=2": the first cookie of that name, as browsers send the most specific first.
  let at = 0;
  while (at < header.length) {
    let end = header.indexOf(';', at);
    if (end < 0) end = header.length;
    const eq = header.indexOf('=', at);
    if (eq > at && eq < end && header.slice(at, eq).trim() === name) {
      const v = header.slice(eq + 1, end).trim();
      return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
    at = end + 1;
  }
  return undefined;
}

function queryValue(url: string | undefined, name: string): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  const hash = url.indexOf('#', q);
  try {
    return new URLSearchParams(url.slice(q + 1, hash < 0 ? undefined : hash)).get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * The client key of an upgrade request under `spec`; undefined (not
 * tracked) when the request has none. `ip` is the TCP peer's address: behind
 * a load balancer that is the balancer, so use a header it sets instead.
 */
export function clientKeyFunction(spec: ClientKeySpec): (req: Pick<IncomingMessage, 'headers' | 'url' | 'socket'>) => string | undefined {
  switch (spec.source) {
    case 'ip':
      return (req) => req.socket.remoteAddress || undefined;
    case 'header': {
      const name = spec.name;
      return (req) => {
        const v = req.headers[name];
        const text = Array.isArray(v) ? v.join(', ') : v;
        return text === undefined || text === '' ? undefined : text;
      };
    }
    case 'cookie': {
      const name = spec.name;
      return (req) => {
        const header = req.headers.cookie;
        const v = header === undefined ? undefined : cookieValue(header, name);
        return v === undefined || v === '' ? undefined : v;
      };
    }
    case 'query': {
      const name = spec.name;
      return (req) => {
        const v = queryValue(req.url, name);
        return v === undefined || v === '' ? undefined : v;
      };
    }
  }
}
