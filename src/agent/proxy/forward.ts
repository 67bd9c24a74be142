/**
 * Plain HTTP requests on the proxy's port (health checks, pages next to the
 * WebSocket endpoint) go to the upstream with Node's HTTP client, and the
 * answer streams back unchanged. Nothing here is counted: only upgrades are.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { forwardedHeaders, targetPath, type ProxyTarget } from './target.js';

function upstreamRequestOptions(target: ProxyTarget, req: IncomingMessage): RequestOptions {
  return {
    host: target.host,
    port: target.port,
    method: req.method,
    path: targetPath(target, req.url),
    headers: forwardedHeaders(req), // Node accepts rawHeaders-style arrays
    setHost: false,
    agent: false,
    servername: target.servername,
  };
}

/** The request listener that forwards to `target`; an upstream that does not answer within `timeoutMs` gets the client a 504. */
export function forwardRequests(target: ProxyTarget, timeoutMs: number): RequestListener {
  const requestUpstream = target.tls ? httpsRequest : httpRequest;
  return (req: IncomingMessage, res: ServerResponse): void => {
    let upstreamReq: ClientRequest;
    try {
      upstreamReq = requestUpstream(upstreamRequestOptions(target, req));
    } catch {
      // Node's client validates the path, method and headers it sends, and throws for what it will not send.
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('request cannot be forwarded\n');
      return;
    }
    const timer = setTimeout(() => {
      upstreamReq.destroy(Object.assign(new Error('upstream timeout'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    upstreamReq.on('response', (upstreamRes) => {
      clearTimeout(timer);
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, upstreamRes.rawHeaders as unknown as Record<string, string>);
      upstreamRes.pipe(res);
    });
    upstreamReq.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const timeout = err.code === 'ETIMEDOUT';
      res
        .writeHead(timeout ? 504 : 502, { 'Content-Type': 'text/plain; charset=utf-8' })
        .end(timeout ? 'upstream did not answer in time\n' : `upstream unreachable: ${err.code ?? 'error'}\n`);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  };
}
