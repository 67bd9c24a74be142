/**
 * Where the proxy sends a client's request and with which head: the
 * upstream computed once from --upstream, and the request target and headers
 * derived from each client request, shared by upgrades and plain HTTP.
 */
import type { IncomingMessage } from 'node:http';
import type { UpstreamTarget } from './upstream-handshake.js';

export interface ProxyTarget extends UpstreamTarget {
  /** The URL's host as written (brackets kept for IPv6): the TLS server name. */
  readonly servername: string;
  /** The URL's path without its trailing slash ('' for the root). */
  readonly basePath: string;
  /** The URL's query string, sent when the client asks for the root. */
  readonly search: string;
}

export function proxyTarget(upstream: URL): ProxyTarget {
  const tls = upstream.protocol === 'wss:';
  return {
    host: upstream.hostname.replace(/^\[|\]$/g, ''),
    port: Number(upstream.port) || (tls ? 443 : 80),
    tls,
    servername: upstream.hostname,
    basePath: upstream.pathname.replace(/\/$/, ''),
    search: upstream.search,
  };
}

/** The upstream request target for a client request target. */
export function targetPath(target: ProxyTarget, url: string | undefined): string {
  const path = url && url.startsWith('/') ? url : '/';
  if (target.basePath === '') return path;
  return path === '/' ? target.basePath + target.search : target.basePath + path;
}

/** The client's headers as received (name, value, ...), with the client's address added to X-Forwarded-For. */
export function forwardedHeaders(req: Pick<IncomingMessage, 'rawHeaders' | 'socket'>): string[] {
  const remote = req.socket.remoteAddress;
  const headers = [...req.rawHeaders];
  if (remote) {
    const i = headers.findIndex((h, k) => k % 2 === 0 && h.toLowerCase() === 'x-forwarded-for');
    if (i >= 0) headers[i + 1] = `${headers[i + 1] as string}, ${remote}`;
    else headers.push('X-Forwarded-For', remote);
  }
  return headers;
}
