/**
 * Bun: bunWebSocket(handler) wraps the `websocket` handler object of
 * Bun.serve() so that every connection's open and close are recorded on the
 * same recorder as the ws hook (same registry, prefix and labels, same
 * metrics). Bun calls `close(ws, code, reason)` with the code of the close
 * frame it received (1005 for an empty one) or 1006 when the transport ended
 * without one, from inside close() when the server calls it; the server's own close()/terminate() are seen by wrapping
 * those two methods once on ServerWebSocket's prototype (connections not
 * opened through a wrapped handler pass straight through).
 */
import { ForeignConnections, type ForeignState } from './foreign.js';
import type { InstrumentOptions } from './instrument.js';
import { OptionError } from '../recorder/options.js';
import type { Instrumentation } from './public.js';

/** The parts of Bun's ServerWebSocket the adapter uses. */
export interface BunServerWebSocketLike {
  close(code?: number, reason?: string): void;
  terminate(): void;
}

/** A Bun.serve() `websocket` handler (only `open` and `close` are wrapped; the rest is passed on as it is). */
export interface BunWebSocketHandler<W extends BunServerWebSocketLike = BunServerWebSocketLike> {
  open?(ws: W): unknown;
  close?(ws: W, code: number, reason: string): unknown;
  [key: string]: unknown;
}

const states = new WeakMap<object, ForeignState>();
const patched = new WeakSet<object>();

function patchPrototype(ws: BunServerWebSocketLike): void {
  const proto = Object.getPrototypeOf(ws) as (BunServerWebSocketLike & object) | null;
  if (proto === null || patched.has(proto)) return;
  patched.add(proto);
  // eslint-disable-next-line @typescript-eslint/unbound-method -- taken to be wrapped; called back with .call(this)
  const close = proto.close;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- taken to be wrapped; called back with .call(this)
  const terminate = proto.terminate;
  if (typeof close === 'function') {
    proto.close = function closeTracked(this: BunServerWebSocketLike, code?: number, reason?: string): void {
      const st = states.get(this);
      // Bun sends 1000 for close() without a code, and runs the close handler from inside close().
      const first = st !== undefined && st.owner.serverClosing(st, code ?? 1000);
      try {
        return arguments.length === 0 ? close.call(this) : close.call(this, code, reason);
      } catch (err) {
        if (first) st.owner.serverCloseFailed(st); // an invalid code throws into the caller, as without the adapter
        throw err;
      }
    };
  }
  if (typeof terminate === 'function') {
    proto.terminate = function terminateTracked(this: BunServerWebSocketLike): void {
      const st = states.get(this);
      if (st !== undefined) st.owner.serverTerminating(st);
      return terminate.call(this);
    };
  }
}

/**
 * The `websocket` handler for Bun.serve(), recording every connection:
 * `Bun.serve({ fetch, websocket: bunWebSocket({ message(ws, m) { ... } }) })`.
 * The returned object is `handler` with `open` and `close` wrapped, plus the
 * `recorder` and `uninstall()` of an instrumentation.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any handler, whatever ws type Bun's typings give its methods (they are parameters: unknown would refuse them)
export function bunWebSocket<H extends BunWebSocketHandler<any>>(handler: H, options: InstrumentOptions = {}): H & Instrumentation {
  if (handler === null || typeof handler !== 'object')
    throw new OptionError('bunWebSocket(handler): handler must be the websocket handler object for Bun.serve()');
  const conns = new ForeignConnections(options, 'bunWebSocket');
  // eslint-disable-next-line @typescript-eslint/unbound-method -- taken to be wrapped; called back with .call(this)
  const { open, close } = handler;
  const wrapped: BunWebSocketHandler = {
    ...handler,
    open(ws: BunServerWebSocketLike) {
      try {
        patchPrototype(ws);
        const st = conns.opened();
        if (st !== undefined) states.set(ws, st);
      } catch (err) {
        conns.report(err);
      }
      return open?.call(this, ws);
    },
    close(ws: BunServerWebSocketLike, code: number, reason: string) {
      const st = states.get(ws);
      if (st !== undefined) {
        states.delete(ws);
        conns.closed(st, code, code !== 1006);
      }
      return close?.call(this, ws, code, reason);
    },
  };
  Object.defineProperty(wrapped, 'recorder', { value: conns.recorder, enumerable: false });
  Object.defineProperty(wrapped, 'uninstall', { value: () => conns.uninstall(), enumerable: false });
  return wrapped as H & Instrumentation;
}
