/**
 * The echo endpoint's only door into the hook: closing a tracked connection
 * so that it is recorded with initiator `agent`, and listing the open
 * connections the hook tracks. The idle sweep and the drain that use these
 * belong to the agent (admission.ts); the library knows nothing of them.
 */
import type { WebSocket } from 'ws';
import { closeAttributed, terminateAttributed, trackedConnections } from '../hook/attribution.js';
import type { Instrumentation } from '../hook/instrument.js';

export function closeAsAgent(instrumentation: Instrumentation, ws: WebSocket, code: number): void {
  closeAttributed(instrumentation, ws, 'agent', code);
}

export function terminateAsAgent(instrumentation: Instrumentation, ws: WebSocket): void {
  terminateAttributed(instrumentation, ws, 'agent');
}

export function liveConnections(instrumentation: Instrumentation): WebSocket[] {
  return trackedConnections(instrumentation);
}
