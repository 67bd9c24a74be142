/**
 * The echo endpoint's only door into the hook: closing a tracked connection
 * so that it is recorded with initiator `agent`, and listing the open
 * connections the hook tracks. The idle sweep and the drain that use these
 * belong to the agent (admission.ts); the library knows nothing of them.
 */
import type { WebSocket } from 'ws';
import { drainHandle, type Instrumentation } from '../hook.js';

/** The hook's own list of its open connections (a method its drain handle does not expose). */
interface HookInternals {
  liveConnections(): WebSocket[];
}

/** Close `ws` with `code`, recorded with initiator `agent`. */
export function closeAsAgent(instrumentation: Instrumentation, ws: WebSocket, code: number): void {
  drainHandle(instrumentation).closeAsAgent(ws, code);
}

/** Drop `ws`'s TCP connection (1006), recorded with initiator `agent`. */
export function terminateAsAgent(instrumentation: Instrumentation, ws: WebSocket): void {
  const handle = drainHandle(instrumentation);
  // The handle terminates every connection it lists: have it list this one only.
  const internals = handle as unknown as HookInternals;
  internals.liveConnections = () => [ws];
  try {
    handle.terminateAllAsAgent();
  } finally {
    delete (internals as Partial<HookInternals>).liveConnections;
  }
}

/** The open connections `instrumentation` tracks. */
export function liveConnections(instrumentation: Instrumentation): WebSocket[] {
  return (drainHandle(instrumentation) as unknown as HookInternals).liveConnections();
}
