/**
 * For the package's own modules, not the public API: close or terminate a
 * hooked connection with the close recorded under another initiator than
 * `server` (the agent's drain and idle timeout record `agent`), and list the
 * connections an instrumentation still tracks.
 */
import type { WebSocket } from 'ws';
import { INITIATORS, type Initiator } from '../codes/vocabulary.js';
import { hookOf } from './instrument.js';

function initiatorIndex(initiator: Initiator): number {
  return INITIATORS.indexOf(initiator);
}

/** Close `ws` with `code`, recorded under `initiator`; false when `instrumentation` does not track it. */
export function closeAttributed(instrumentation: unknown, ws: WebSocket, initiator: Initiator, code: number): boolean {
  return hookOf(instrumentation)?.closeAttributed(ws, initiatorIndex(initiator), code) ?? false;
}

/** Terminate `ws`, recorded under `initiator`; false when `instrumentation` does not track it. */
export function terminateAttributed(instrumentation: unknown, ws: WebSocket, initiator: Initiator): boolean {
  return hookOf(instrumentation)?.closeAttributed(ws, initiatorIndex(initiator), undefined) ?? false;
}

/** The open connections `instrumentation` tracks (empty for anything that is not one). */
export function trackedConnections(instrumentation: unknown): WebSocket[] {
  return hookOf(instrumentation)?.openSockets() ?? [];
}
