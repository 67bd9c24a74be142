/**
 * A test middlebox: a TCP relay that passes everything through except the
 * server's close frame on a WebSocket connection, which it swallows, ending
 * both sides without it, as a load balancer that drops a connection at
 * the wrong moment does. The server has sent its close; the client sees
 * the connection drop (1006).
 *
 * It reads the server's bytes only far enough for the test servers, which
 * send nothing but the close frame after the 101 answer: a server frame
 * whose first byte is 0x88 (FIN + close) right after the answer head.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface CloseSwallower {
  readonly port: number;
  /** Close frames swallowed so far. */
  swallowed: number;
  close(): Promise<void>;
}

const HEAD_END = Buffer.from('\r\n\r\n');

export async function startCloseSwallower(targetPort: number): Promise<CloseSwallower> {
  const sockets = new Set<Socket>();
  const state = { swallowed: 0 };
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (d) => upstream.write(d));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    let websocket = false; // past a 101 answer head
    let pending = Buffer.alloc(0);
    upstream.on('data', (d: Buffer) => {
      if (!websocket) {
        pending = Buffer.concat([pending, d]);
        if (!pending.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 101')) {
          client.write(pending);
          pending = Buffer.alloc(0);
          return;
        }
        const end = pending.indexOf(HEAD_END);
        if (end < 0) return;
        client.write(pending.subarray(0, end + 4));
        d = pending.subarray(end + 4);
        pending = Buffer.alloc(0);
        websocket = true;
        if (d.length === 0) return;
      }
      if (d[0] === 0x88) {
        state.swallowed++;
        upstream.destroy();
        client.destroy();
        return;
      }
      client.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get swallowed() {
      return state.swallowed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
