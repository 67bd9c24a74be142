/**
 * The agent's one way into the hook's connections (the echo endpoint's
 * drain and idle timeout): closes it starts are recorded with initiator
 * `agent`.
 */
import type { WebSocket } from 'ws';
import { closeAttributed, terminateAttributed, trackedConnectionCount, trackedConnections } from '../hook/attribution.js';
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

export function openConnectionCount(instrumentation: Instrumentation): number {
  return trackedConnectionCount(instrumentation);
}
