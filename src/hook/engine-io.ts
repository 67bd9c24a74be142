/**
 * Socket.IO 4 and engine.io 6: instrumentSocketIo(io) records the closes of
 * every WebSocket transport connection. engine.io upgrades through its
 * `ws` server's handleUpgrade() and hands the socket to its own
 * onWebSocket() without ever emitting `connection`, and it replaces that
 * `ws` server (io.engine.ws) each time the HTTP server starts listening; so
 * the hook wraps the engine's onWebSocket() instead, which every WebSocket
 * passes through whichever `ws` server accepted it, and feeds each socket to
 * the ws hook through a `connection` event of its own.
 *
 * HTTP long-polling has no WebSocket and no close code: a session on it is
 * not counted; a session that upgrades is counted from its WebSocket on.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { WebSocketServer } from 'ws';
import { OptionError } from '../recorder/options.js';
import { instrument as instrumentInternal, type InstrumentOptions } from './instrument.js';
import { rejectRecorderOption, type Instrumentation } from './public.js';

type OnWebSocket = (req: IncomingMessage, socket: unknown, websocket: unknown) => unknown;

/**
 * An engine.io Server (the `ws`-based one: `new engine.Server()`, `engine.attach()`, or Socket.IO's `io.engine`).
 * Typed by a public method only: the one the hook wraps, onWebSocket(), is private in engine.io's
 * declarations, so a type naming it would refuse the real class. It is checked when you call.
 */
export interface EngineIoServerLike {
  handleUpgrade(...args: never[]): unknown;
}

/** What the hook wraps: engine.io's (private) per-WebSocket entry point. */
interface EngineIoInternals {
  onWebSocket: OnWebSocket;
}

/** A Socket.IO Server (or one of its namespaces); its engine may be bound later (io.attach / io.listen). */
export interface SocketIoServerLike {
  readonly engine?: EngineIoServerLike | undefined;
  bind?: (engine: EngineIoServerLike) => unknown;
}

function isEngine(value: unknown): value is EngineIoServerLike & EngineIoInternals {
  return value !== null && typeof value === 'object' && typeof (value as { onWebSocket?: unknown }).onWebSocket === 'function';
}

/**
 * Record every close of a Socket.IO server's (or an engine.io server's)
 * WebSocket connections; call it before or after the HTTP server listens.
 */
export function instrumentSocketIo(
  server: SocketIoServerLike | EngineIoServerLike | { readonly server: SocketIoServerLike },
  options: InstrumentOptions = {},
): Instrumentation {
  rejectRecorderOption(options);
  if (server === null || typeof server !== 'object') throw new OptionError('instrumentSocketIo(server): server must be a Socket.IO or engine.io Server');
  // A namespace (io.of('/chat'), or what a NestJS gateway's afterInit receives) leads to its server.
  const target: SocketIoServerLike | EngineIoServerLike = isEngine(server) || 'engine' in server || !('server' in server) ? server : server.server;
  const canBind = !isEngine(target) && typeof (target as SocketIoServerLike).bind === 'function';
  if (!isEngine(target) && !isEngine((target as SocketIoServerLike).engine) && !canBind) {
    throw new OptionError('instrumentSocketIo(server): server must be a Socket.IO Server or an engine.io Server (the uWebSockets.js engine is not supported)');
  }
  const connections = new EventEmitter();
  const inst = instrumentInternal(connections as unknown as WebSocketServer, options);
  const restores: (() => void)[] = [];

  const wrapEngine = (engine: EngineIoInternals): void => {
    const own = Object.getOwnPropertyDescriptor(engine, 'onWebSocket');
    const original = engine.onWebSocket;
    const wrapper: OnWebSocket = function onWebSocketTracked(this: unknown, req, socket, websocket) {
      connections.emit('connection', websocket, req); // the hook reports its own errors; none reach engine.io
      return original.call(this, req, socket, websocket);
    };
    Object.defineProperty(engine, 'onWebSocket', { value: wrapper, writable: true, configurable: true, enumerable: false });
    restores.push(() => {
      if (engine.onWebSocket !== wrapper) return; // wrapped again after us: leave it
      if (own === undefined) delete (engine as { onWebSocket?: unknown }).onWebSocket;
      else Object.defineProperty(engine, 'onWebSocket', own);
    });
  };

  if (isEngine(target)) wrapEngine(target);
  else {
    const io = target as SocketIoServerLike;
    if (isEngine(io.engine)) wrapEngine(io.engine);
    if (canBind) {
      // io.attach()/io.listen() after this call bind a new engine: follow it.
      const bind = io.bind!;
      const bindTracked = function (this: SocketIoServerLike, engine: EngineIoServerLike): unknown {
        const result = bind.call(this, engine);
        if (isEngine(engine)) wrapEngine(engine);
        return result;
      };
      (io as { bind: typeof bind }).bind = bindTracked;
      restores.push(() => {
        if (io.bind === bindTracked) delete (io as { bind?: unknown }).bind;
      });
    }
  }
  return {
    recorder: inst.recorder,
    uninstall(): void {
      for (const restore of restores.splice(0).reverse()) restore();
      inst.uninstall();
    },
  };
}
