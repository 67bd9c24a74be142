/** Servers for the tests and runners listen on an ephemeral port of 127.0.0.1 only. */

/** Listen on 127.0.0.1 port 0; resolves with the port and the ws:// URL of it. */
export function listenLoopback(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const { port } = server.address();
      resolve({ port, url: `ws://127.0.0.1:${port}` });
    });
  });
}
