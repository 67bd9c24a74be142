/**
 * An upgrade request on the proxy's port: admitted by the agent's policy,
 * sent on to the upstream with the client's head (target path and
 * X-Forwarded-For added), and on the upstream's 101 turned into a Connection.
 * Every other outcome is answered to the client and counted.
 */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { UpgradeFailureReason } from '../../codes/vocabulary.js';
import { closeIdOf, type CloseId } from '../../hook/close-id.js';
import type { Admission } from '../admission.js';
import { rejectUpgrade } from '../http-errors.js';
import { pathOf } from '../../live/close-entry.js';
import { Connection, type ConnectionOwner } from './connection.js';
import type { UpgradeRequest } from './request-head.js';
import { forwardedHeaders, targetPath, type ProxyTarget } from './target.js';
import { upstreamHandshake } from './upstream-handshake.js';
import { nowMs } from '../../recorder/reconnects.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const ignore = (): void => undefined;

/** What the upgrade handler needs from the proxy. */
export interface UpgradeOwner extends ConnectionOwner {
  readonly admission: Admission<Connection>;
  readonly target: ProxyTarget;
  readonly connectTimeoutMs: number;
  /** Upgrades admitted and waiting for the upstream's answer. */
  pending: number;
  /** The upstream answered 101 and the client is still there: the connection is open. */
  add(conn: Connection): void;
  /** The client key of an upgrade request (--client-key); undefined when reconnect tracking is off. */
  readonly clientKey: ((req: UpgradeRequest) => string | undefined) | undefined;
}

/** The request head sent to the upstream: the client's, with the target path and X-Forwarded-For. */
function upgradeRequestHead(target: ProxyTarget, req: UpgradeRequest): string {
  const headers = forwardedHeaders(req);
  let out = `${req.method ?? 'GET'} ${targetPath(target, req.url)} HTTP/1.1\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) out += `${headers[i] as string}: ${headers[i + 1] as string}\r\n`;
  return `${out}\r\n`;
}

function fail(owner: UpgradeOwner, socket: Duplex, reason: UpgradeFailureReason, status: number, text: string, message: string): void {
  owner.recorder.recordUpgradeFailure(reason);
  rejectUpgrade(socket, status, text, message);
}

/** The upstream answered 101: relay its answer head and start piping. */
function opened(
  owner: UpgradeOwner,
  req: UpgradeRequest,
  client: Socket,
  clientHead: Buffer,
  upstream: Socket,
  upstreamHead: Buffer,
  answerHead: Buffer,
  closeId: CloseId | undefined,
): void {
  if (!client.writable || client.readableEnded) {
    upstream.destroy();
    client.destroy();
    owner.recorder.recordUpgradeFailure('client_aborted');
    return;
  }
  client.write(answerHead);
  const conn = new Connection(owner, client, upstream, closeId);
  // The live page's recent closes and the close log want the path and the peer (never a label).
  if (owner.recorder.wantsDetails) conn.details = { at: 0, path: pathOf(req.url), peer: client.remoteAddress, reason: undefined, closeId };
  owner.add(conn);
  owner.recorder.recordOpen();
  // The key text goes to the keyed hash only; the connection keeps the hash.
  if (owner.reconnects !== undefined && owner.clientKey !== undefined) conn.keyHash = owner.reconnects.open(owner.clientKey(req), nowMs());
  conn.start(clientHead, upstreamHead);
  owner.admission.opened(conn);
}

function connectUpstream(owner: UpgradeOwner, req: UpgradeRequest, client: Socket, head: Buffer): void {
  owner.pending++;
  // The page's ws_close_id, for the client-report join; read only while a report table listens. The request goes on unchanged.
  const closeId = owner.recorder.wantsDetails ? closeIdOf(req.url) : undefined;
  upstreamHandshake(
    {
      target: owner.target,
      requestHead: upgradeRequestHead(owner.target, req),
      // admit() checked the key's form.
      expectedAccept: createHash('sha1')
        .update((req.headers['sec-websocket-key'] as string) + WS_GUID)
        .digest('base64'),
      timeoutMs: owner.connectTimeoutMs,
      client,
    },
    (outcome) => {
      owner.pending--;
      switch (outcome.kind) {
        case 'upgraded':
          return opened(owner, req, client, head, outcome.socket, outcome.head, outcome.answerHead, closeId);
        case 'answered':
          // Not a 101: relayed unchanged, and the connection is not opened.
          return owner.recorder.recordUpgradeFailure('upstream_rejected');
        case 'invalid':
          owner.logger.debug('upstream answered with an invalid handshake', { why: outcome.why });
          return fail(owner, client, 'upstream_rejected', 502, 'Bad Gateway', 'upstream answered the upgrade with an invalid handshake\n');
        case 'timeout':
          return fail(owner, client, 'upstream_timeout', 504, 'Gateway Timeout', 'upstream did not answer in time\n');
        case 'unreachable':
          owner.logger.debug('upstream unreachable', { code: outcome.code });
          return fail(owner, client, 'upstream_unreachable', 502, 'Bad Gateway', `upstream unreachable: ${outcome.code}\n`);
        case 'aborted':
          return owner.recorder.recordUpgradeFailure('client_aborted');
      }
    },
  );
}

/** The front server's 'upgrade' listener. */
export function handleUpgrades(owner: UpgradeOwner): (req: UpgradeRequest, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    const client = socket as Socket;
    client.on('error', ignore); // until piping starts; errors then end the connection
    if (owner.admission.admit(req, client)) connectUpstream(owner, req, client, head);
  };
}
