/**
 * Deno (and any server handing out web-standard WebSocket objects):
 * trackWebSockets() returns a tracker whose track(socket) records the
 * socket's open and close on the same recorder as the ws hook (same
 * registry, prefix and labels, same metrics). The close event's code is the
 * close frame's (1005 for an empty one) when `wasClean`, and 1006 without a
 * close frame; a close() the server calls first is seen by wrapping that
 * socket's close method.
 */
import { ForeignConnections } from './foreign.js';
import type { InstrumentOptions } from './instrument.js';
import { OptionError } from '../recorder/options.js';
import type { Instrumentation } from './public.js';

const OPEN = 1;
const CLOSED = 3;

/** The parts of a web-standard WebSocket the tracker uses. */
export interface StandardWebSocketLike {
  readonly readyState: number;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close', listener: (event: { code?: number; wasClean?: boolean }) => void, options?: { once?: boolean }): void;
}

export interface WebSocketTracker extends Instrumentation {
  /** Record `socket` (e.g. Deno.upgradeWebSocket(req).socket), open or still opening. */
  track(socket: StandardWebSocketLike): void;
}

/**
 * A tracker for web-standard server WebSockets:
 * `const { socket, response } = Deno.upgradeWebSocket(req); tracker.track(socket);`
 */
export function trackWebSockets(options: InstrumentOptions = {}): WebSocketTracker {
  const conns = new ForeignConnections(options, 'trackWebSockets');
  const start = (socket: StandardWebSocketLike): void => {
    const st = conns.opened();
    if (st === undefined) return;
    // eslint-disable-next-line @typescript-eslint/unbound-method -- taken to be wrapped; called back with .call(socket)
    const close = socket.close;
    (socket as { close: StandardWebSocketLike['close'] }).close = function closeTracked(code?: number, reason?: string): void {
      // Without a code a web-standard socket sends an empty close payload: 1005.
      const first = socket.readyState === OPEN && conns.serverClosing(st, code ?? 1005);
      try {
        return arguments.length === 0 ? close.call(socket) : close.call(socket, code, reason);
      } catch (err) {
        if (first) conns.serverCloseFailed(st); // an invalid code throws into the caller, as without the tracker
        throw err;
      }
    };
    socket.addEventListener(
      'close',
      (event) => {
        const clean = event.wasClean === true;
        conns.closed(st, clean ? (event.code ?? 1005) : 1006, clean);
      },
      { once: true },
    );
  };
  return {
    recorder: conns.recorder,
    track(socket: StandardWebSocketLike): void {
      if (socket === null || typeof socket !== 'object' || typeof socket.addEventListener !== 'function') {
        throw new OptionError('track(socket): socket must be a web-standard WebSocket');
      }
      try {
        if (socket.readyState === OPEN) start(socket);
        else if (socket.readyState !== CLOSED) socket.addEventListener('open', () => start(socket), { once: true });
      } catch (err) {
        conns.report(err);
      }
    },
    uninstall: () => conns.uninstall(),
  };
}
