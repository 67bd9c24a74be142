/**
 * The child side of lib/children.mjs: announce readiness, answer requests
 * ({ id, command, params } -> { id, result } or { id, error }), and exit when
 * the runner goes away (the IPC channel closes).
 */
export function announceReady(info = {}) {
  process.send({ type: 'ready', ...info });
}

export function serveRequests(handlers) {
  process.on('message', async ({ id, command, params }) => {
    try {
      const handler = handlers[command];
      if (!handler) throw new Error(`unknown command ${command}`);
      process.send({ id, result: await handler(params) });
    } catch (err) {
      process.send({ id, error: err instanceof Error ? err.stack ?? err.message : String(err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}
