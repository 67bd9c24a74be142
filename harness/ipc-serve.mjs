/**
 * The child side of ipc.mjs, for the children of bench/ and soak/:
 * announce readiness, answer requests ({ id, command, params } -> { id,
 * result } or { id, error }), send events, and exit when the runner goes
 * away (the IPC channel closes).
 */
export function announceReady(info = {}) {
  process.send({ type: 'ready', ...info });
}

export function sendEvent(name, data) {
  if (process.connected) process.send({ type: 'event', name, data });
}

export function serveRequests(handlers) {
  process.on('message', async ({ id, command, params }) => {
    try {
      const handler = handlers[command];
      if (!handler) throw new Error(`unknown command ${command}`);
      const result = await handler(params);
      if (process.connected) process.send({ id, result });
    } catch (err) {
      if (process.connected) process.send({ id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}
