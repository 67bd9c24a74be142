/**
 * The upstream side of a proxied upgrade, without Node's HTTP client: one
 * TCP (or TLS) connection, the client's request head written as it came, and
 * the upstream's answer head read here. A 101 hands over the socket and any
 * bytes that followed the head; any other answer is relayed to the client
 * byte for byte (head and body, whose end is found from Content-Length or the
 * chunked framing) and the connection is closed.
 *
 * Node's ClientRequest and its response parser cost about a fifth of the
 * proxy's CPU per connection and stay reachable from the socket afterwards;
 * an upgrade answer needs neither.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** Node's own default limit for a response head (--max-http-header-size). */
const MAX_ANSWER_HEAD = 16 * 1024;

export interface UpstreamTarget {
  host: string;
  port: number;
  /** wss://: TLS, with the host as server name (SNI, unless an IP address; the certificate is checked against it). */
  tls: boolean;
}

export type HandshakeOutcome =
  | { kind: 'upgraded'; socket: Socket; head: Buffer; answerHead: Buffer }
  | { kind: 'answered'; status: number }
  | { kind: 'unreachable'; code: string }
  | { kind: 'invalid'; why: string }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

export interface HandshakeRequest {
  target: UpstreamTarget;
  /** The complete request head (request line, headers, blank line), latin1 as Node decoded it. */
  requestHead: string;
  /** The expected Sec-WebSocket-Accept value of a 101 answer. */
  expectedAccept: string;
  timeoutMs: number;
  /** The client's socket: a non-101 answer is relayed to it; its going away aborts the handshake. */
  client: Socket;
}

interface AnswerHead {
  status: number;
  /** Lower-cased header name to value (the last one wins; only looked up for a few names). */
  headers: Map<string, string>;
}

function parseAnswerHead(text: string): AnswerHead | undefined {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

/** Chunked transfer coding: finds where a chunked body ends, without copying it. */
class ChunkedEnd {
  private state = 0; // 0 size digits, 1 to end of size line, 2 data, 3 CRLF after data, 4 trailer line start, 5 trailer line
  private size = 0;
  private left = 0;
  done = false;
  invalid = false;

  /** Consume bytes [start, end); returns the offset just past the body's end, or -1 if it has not ended. */
  feed(buf: Buffer, start: number, end: number): number {
    let i = start;
    while (i < end) {
      const b = buf[i] as number;
      switch (this.state) {
        case 0: {
          const digit = b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x61 && b <= 0x66 ? b - 0x57 : b >= 0x41 && b <= 0x46 ? b - 0x37 : -1;
          if (digit >= 0 && this.size < 2 ** 40) {
            this.size = this.size * 16 + digit;
            i++;
          } else {
            this.state = 1;
          }
          break;
        }
        case 1:
          i++;
          if (b === 0x0a) {
            if (this.size === 0) {
              this.state = 4;
            } else {
              this.left = this.size;
              this.state = 2;
            }
          }
          break;
        case 2: {
          const n = Math.min(this.left, end - i);
          i += n;
          this.left -= n;
          if (this.left === 0) this.state = 3;
          break;
        }
        case 3:
          i++;
          if (b === 0x0a) {
            this.size = 0;
            this.state = 0;
          }
          break;
        case 4:
          i++;
          if (b === 0x0a) {
            this.done = true;
            return i;
          }
          if (b !== 0x0d) this.state = 5;
          break;
        case 5:
          i++;
          if (b === 0x0a) this.state = 4;
          break;
      }
    }
    return -1;
  }
}

/**
 * Connect to the upstream, send the request head, and settle once: with the
 * upgraded socket, after relaying a non-101 answer to the client, or with
 * the failure (the caller answers the client then).
 */
export function upstreamHandshake(request: HandshakeRequest, done: (outcome: HandshakeOutcome) => void): void {
  const { target, client } = request;
  let socket: Socket;
  try {
    const { host, port } = target;
    socket = target.tls ? tlsConnect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}) }) : netConnect({ host, port });
  } catch (err) {
    done({ kind: 'unreachable', code: (err as NodeJS.ErrnoException).code ?? 'error' });
    return;
  }
  socket.setNoDelay(true);
  socket.write(request.requestHead, 'latin1');

  let settled = false;
  let buffered: Buffer | undefined;
  const settle = (outcome: HandshakeOutcome): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('error', onError);
    socket.removeListener('end', onEnd);
    client.removeListener('close', onClientGone);
    client.removeListener('end', onClientGone);
    if (outcome.kind !== 'upgraded' && outcome.kind !== 'answered') socket.destroy();
    done(outcome);
  };
  const timer = setTimeout(() => settle({ kind: 'timeout' }), request.timeoutMs);
  const onError = (err: NodeJS.ErrnoException): void => settle({ kind: 'unreachable', code: err.code ?? 'error' });
  // The upstream closed before its answer was complete.
  const onEnd = (): void => settle({ kind: 'unreachable', code: 'ECONNRESET' });
  // A FIN before the 101 means the client gave up: an upgrade socket is not
  // flowing yet, so its 'end' comes (and would be missed) without a reader.
  const onClientGone = (): void => {
    settle({ kind: 'aborted' });
    client.destroy();
  };
  const onData = (chunk: Buffer): void => {
    let from = buffered === undefined ? 0 : Math.max(0, buffered.length - 3);
    buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk]);
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n', from, 'latin1');
      if (end < 0) {
        if (buffered.length > MAX_ANSWER_HEAD) settle({ kind: 'invalid', why: 'answer head too large' });
        return;
      }
      const answer = parseAnswerHead(buffered.toString('latin1', 0, end));
      if (answer === undefined) return settle({ kind: 'invalid', why: 'malformed answer head' });
      if (answer.status >= 100 && answer.status < 200 && answer.status !== 101) {
        // An informational answer (100, 103): the real one follows.
        buffered = buffered.subarray(end + 4);
        from = 0;
        if (buffered.length === 0) return;
        continue;
      }
      const rest = buffered.subarray(end + 4);
      if (answer.status === 101) {
        if (answer.headers.get('sec-websocket-accept') !== request.expectedAccept) return settle({ kind: 'invalid', why: 'wrong Sec-WebSocket-Accept' });
        return settle({ kind: 'upgraded', socket, head: rest, answerHead: buffered.subarray(0, end + 4) });
      }
      relayAnswer(socket, client, buffered.subarray(0, end + 4), rest, answer);
      return settle({ kind: 'answered', status: answer.status });
    }
  };
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('end', onEnd);
  client.once('close', onClientGone);
  client.once('end', onClientGone);
}

/** Relay a non-101 answer byte for byte, with backpressure, and close both sides at its end. */
function relayAnswer(upstream: Socket, client: Socket, head: Buffer, rest: Buffer, answer: AnswerHead): void {
  const finish = (): void => {
    upstream.destroy();
    if (client.writable) client.end();
    client.destroySoon();
  };
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  const status = answer.status;
  const length = answer.headers.get('content-length');
  const chunked = /(?:^|,)\s*chunked\s*$/i.test(answer.headers.get('transfer-encoding') ?? '');
  let end: (chunk: Buffer) => number; // offset of the body's end in chunk, or -1
  if (status === 204 || status === 304) {
    end = () => 0;
  } else if (chunked) {
    const framing = new ChunkedEnd();
    end = (chunk) => framing.feed(chunk, 0, chunk.length);
  } else if (length !== undefined && /^\d{1,15}$/.test(length)) {
    let left = Number(length);
    end = (chunk) => {
      if (chunk.length < left) {
        left -= chunk.length;
        return -1;
      }
      return left;
    };
  } else {
    end = () => -1; // until the upstream closes
  }
  client.write(head);
  const forward = (chunk: Buffer): boolean => {
    const at = end(chunk);
    if (at >= 0) {
      if (at > 0) client.write(chunk.subarray(0, at));
      finish();
      return true;
    }
    if (!client.write(chunk)) upstream.pause();
    return false;
  };
  if (forward(rest)) return;
  client.on('drain', () => upstream.resume());
  upstream.on('data', (chunk: Buffer) => {
    forward(chunk);
  });
  upstream.on('end', finish);
  upstream.resume();
}
