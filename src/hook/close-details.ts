/**
 * What the hook tells close listeners besides the code (recorder.wantsDetails):
 * the upgrade request's path (query stripped, length capped, once per
 * connection), the peer's address, its ws_close_id, the reason of the close frame that
 * decided the code, and the clock reading the hook took anyway. Nothing here
 * runs while no listener exists; with one, a close costs a few field writes
 * into one reused details object (listeners copy what they keep).
 */
import type { IncomingMessage } from 'node:http';
import { pathOf } from '../live/close-entry.js';
import type { CloseDetails } from '../recorder/recorder.js';
import { closeIdOf, type CloseId } from './close-id.js';

/** Per tracked connection, made only while the recorder wants details. */
export interface ConnectionInfo {
  path?: string | undefined;
  peer?: string | undefined;
  /** The reason the server passed to its first close(code, reason). */
  sentReason?: Buffer | string | undefined;
  /** The upgrade request's ws_close_id (close-id.ts), for the client-report join. */
  closeId?: CloseId | undefined;
}

interface SocketLike {
  _socket?: { remoteAddress?: string } | null;
}

export function connectionInfo(req: IncomingMessage | undefined, ws: unknown): ConnectionInfo {
  const socket = req?.socket ?? (ws as SocketLike)._socket ?? undefined;
  return { path: pathOf(req?.url), peer: socket?.remoteAddress, closeId: closeIdOf(req?.url) };
}

interface MutableDetails {
  at: number;
  reason: Buffer | string | undefined;
  path: string | undefined;
  peer: string | undefined;
  closeId: CloseId | undefined;
}

// Reused for every close: recordClose() hands it to the listeners synchronously.
const scratch: MutableDetails = { at: 0, reason: undefined, path: undefined, peer: undefined, closeId: undefined };

/** The details of one close; `reason` is the decisive close frame's (undefined for 1006), `at` the hook's performance.now(). */
export function closeDetails(info: ConnectionInfo | undefined, reason: Buffer | string | undefined, at: number): CloseDetails {
  scratch.at = at;
  scratch.reason = reason;
  scratch.path = info?.path;
  scratch.peer = info?.peer;
  scratch.closeId = info?.closeId;
  return scratch;
}
