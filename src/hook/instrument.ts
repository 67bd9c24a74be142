/**
 * instrument(wss): records every close of a `ws` WebSocketServer's
 * connections into a CloseRecorder, with the code of the first close frame on
 * the connection and the side that sent it (docs/metrics.md, "Which code").
 *
 * How the first close frame is found without touching the frames: the
 * `close()` and `terminate()` methods of the connections' class are wrapped
 * once per process (method-patch.ts), and so is ws's `emitClose()`, which
 * emits the `close` event (cheaper than a `close` listener on every
 * connection; a `ws` without it gets the listener). The wrappers look up the connection's state under a symbol;
 * connections that are not tracked pass straight through. When the server
 * calls close() while the socket is open
 * and no close frame has been received, the server initiated the close with
 * that code. ws also calls `close(statusCode)` itself when it rejects a bad
 * frame (receiverOnError), which is how the 1002/1007/1008/1009 it sends gets
 * recorded. Otherwise the `close` event's code is the client's (1005 for an
 * empty payload), or 1006 when no close frame arrived.
 */
import { reportHookError } from './hook-error.js';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks'; // the global is a lazy getter, read on every access
import type { MeterProvider, Span } from '@opentelemetry/api';
import type { WebSocket, WebSocketServer } from 'ws';
import { wireViolation } from '../codes/close-codes.js';
import { CAUSE_TIMEOUT, INITIATOR_CLIENT, INITIATOR_SERVER, SIDE_CLIENT } from '../codes/vocabulary.js';
import { activeSpan } from '../otel-global.js';
import { OtelBridge } from '../otel.js';
import { OptionError, type RecorderOptions } from '../recorder/options.js';
import type { CloseRecorder } from '../recorder/recorder.js';
import { createRecorder } from '../recorder/registry.js';
import type { ReconnectTableOptions } from '../recorder/reconnect-table.js';
import { LocalReconnects, NO_KEY, ReconnectTracker, TIME_ORIGIN, type ReconnectSink } from '../recorder/reconnects.js';
import { closeDetails, connectionInfo, type ConnectionInfo } from './close-details.js';
import { abnormalOf, closeFrameLost, noteCloseStart, packAbnormal, recordHandshake, type HandshakeState } from './close-explain.js';
import { MethodPatch, methodOwner, patchMethod } from './method-patch.js';
import { clientKeyOf, validateReconnectOptions, type ReconnectOptions } from './reconnect-options.js';
import { violationOfWsError } from './ws-errors.js';

export interface InstrumentOptions extends RecorderOptions, ReconnectOptions {
  /** Called with any error raised inside the hook; it never reaches the application. Default: a process warning, once. */
  onError?: (error: Error) => void;
  /** OpenTelemetry meter provider (default: the global one; the API's no-op provider records nothing and costs nothing). */
  meterProvider?: MeterProvider;
}

/** The package's own modules (the agent) may hand over their recorder; the public instrument() rejects this option (public.ts). */
export interface InternalInstrumentOptions extends InstrumentOptions {
  /** Record into this recorder instead of the one for `registry`/`prefix`. */
  recorder?: CloseRecorder;
}

export interface Instrumentation {
  /** The recorder the hook feeds. */
  readonly recorder: CloseRecorder;
  /** Detach from the server and from every connection still open. */
  uninstall(): void;
}

const OPEN = 1;
const kState = Symbol('ws-close-agent.connection');

interface ConnectionState extends HandshakeState {
  readonly hook: Hook;
  /** Keyed hash of the client key (reconnect tracking); NO_KEY without one. */
  readonly keyHash: number;
  readonly start: number;
  /** Code of the first close frame the server sent; 0 while none. */
  code: number;
  initiator: number;
  /** The transport was ended by this side without a close frame (terminate()). */
  terminated: boolean;
  /** Initiator to record for a close or terminate attributed to someone other than the server (see attribution.ts); -1 when none. */
  attributedTo: number;
  /** Inside a wrapped close()/terminate(): a nested wrapper (a subclass's close calling super.close) passes through. */
  inCall: boolean;
  /** The span active when the connection opened (the upgrade request's), for a close event. */
  readonly span: Span | undefined;
  /** Path, peer, sent reason and ws_close_id for close listeners (close-details.ts); only while the recorder wants details. */
  info: ConnectionInfo | undefined;
}

/** The ws internals the hook reads; every access is guarded. */
interface TrackedSocket {
  [kState]?: ConnectionState | undefined;
  readyState: number;
  _closeFrameReceived?: boolean;
  _receiver?: { _opcode?: number; _writableState?: { errored?: unknown } };
  /** ws's code of the close frame received (1005 for an empty payload), 1006 while none; what the `close` event carries. */
  _closeCode?: number;
  _closeFrameSent?: boolean;
  _closeTimeout?: number;
  _socket?: { errored?: unknown; readableEnded?: boolean } | null;
  /** ws's reason of the close frame received. */
  _closeMessage?: Buffer;
  close(code?: number, data?: string | Buffer): void;
  terminate(): void;
  /** ws-internal: emits `close` once the connection is done. */
  emitClose?(): void;
  on(event: 'close', listener: (code: number) => void): unknown;
  removeListener(event: 'close', listener: (code: number) => void): unknown;
}

type CloseMethod = TrackedSocket['close'];
type TerminateMethod = TrackedSocket['terminate'];
type EmitCloseMethod = () => void;

/** close() of a tracked connection, around the class's own `original`. */
function wrapClose(original: CloseMethod): CloseMethod {
  return function closeTracked(this: TrackedSocket, code?: number, data?: string | Buffer): void {
    const st = this[kState];
    if (st === undefined || st.inCall) return original.call(this, code, data);
    const wasOpen = this.readyState === OPEN;
    const first = st.code === 0 && !st.terminated && wasOpen && this._closeFrameReceived !== true;
    st.inCall = true;
    try {
      original.call(this, code, data); // an invalid code throws here, into the caller, as without the hook
    } finally {
      st.inCall = false;
    }
    if (wasOpen && this[kState] === st) noteCloseStart(this, st, performance.now(), st.attributedTo >= 0 ? st.attributedTo : INITIATOR_SERVER);
    if (!first || this[kState] !== st) return;
    try {
      st.code = code ?? 1005; // close() without a code sends an empty payload
      if (st.hook.recorder.wantsDetails) (st.info ??= {}).sentReason = data;
      st.initiator = st.attributedTo >= 0 ? st.attributedTo : INITIATOR_SERVER;
      // ws calls close(statusCode) itself when it rejects a frame; its receiver then holds the error.
      const errored = this._receiver?._writableState?.errored;
      if (errored) st.hook.recorder.recordViolation(SIDE_CLIENT, violationOfWsError(errored, this._receiver?._opcode));
    } catch (err) {
      st.hook.report(err);
    }
  };
}

/** terminate() of a tracked connection, around the class's own `original`. */
function wrapTerminate(original: TerminateMethod): TerminateMethod {
  return function terminateTracked(this: TrackedSocket): void {
    const st = this[kState];
    if (st !== undefined && !st.inCall && st.code === 0 && !st.terminated && this._closeFrameReceived !== true) {
      st.terminated = true;
      st.initiator = st.attributedTo >= 0 ? st.attributedTo : INITIATOR_SERVER;
    }
    return original.call(this);
  };
}

/** emitClose() of a tracked connection: records the close, then lets ws emit the event. */
function wrapEmitClose(original: EmitCloseMethod): EmitCloseMethod {
  return function emitCloseTracked(this: TrackedSocket): void {
    if (this[kState] !== undefined) onTrackedClose.call(this, this._closeCode ?? 1006);
    return original.call(this);
  };
}

// Per owner prototype, for this copy of the module (the ESM and CJS builds each keep their own, with their own kState).
const closePatches = new WeakMap<object, MethodPatch<CloseMethod>>();
const terminatePatches = new WeakMap<object, MethodPatch<TerminateMethod>>();
const emitClosePatches = new WeakMap<object, MethodPatch<EmitCloseMethod>>();

// A tracked connection is done (from emitClose(), or as the `close` listener; `this` is the connection).
function onTrackedClose(this: TrackedSocket, receivedCode: number): void {
  const st = this[kState];
  if (st === undefined) return;
  const hook = st.hook;
  try {
    // ws emits `close` once: a listener can stay on the dead socket (removing it costs more than it saves).
    this[kState] = undefined;
    hook.forget(this);
    const now = performance.now();
    const duration = (now - st.start) / 1000;
    if (st.code !== 0) {
      if (closeFrameLost(this, st, now)) hook.recordAbnormalClose(st, packAbnormal(INITIATOR_SERVER, CAUSE_TIMEOUT), duration, now);
      else hook.recordClose(st, st.code, st.initiator, duration, now, st.info?.sentReason);
    } else if (this._closeFrameReceived === true || (this._closeFrameReceived === undefined && receivedCode !== 1006)) {
      // ws accepted the client's close frame (it rejects most bad codes; 1014 it lets through).
      if (receivedCode !== 1005) {
        const violation = wireViolation(receivedCode);
        if (violation !== undefined) hook.recorder.recordViolation(SIDE_CLIENT, violation);
      }
      hook.recordClose(st, receivedCode, INITIATOR_CLIENT, duration, now, this._closeMessage);
    } else {
      hook.recordAbnormalClose(st, abnormalOf(this, st), duration, now);
    }
    recordHandshake(hook, this, st, now);
  } catch (err) {
    hook.report(err);
  }
}

class Hook implements Instrumentation {
  /**
   * The server's own client set, when it tracks clients (the default): the
   * hook finds its open connections there instead of keeping a second set.
   */
  private readonly clients: Set<TrackedSocket> | undefined;
  /** Tracked connections that are not in `clients` (clientTracking off, or emitted from another server's handleUpgrade). */
  private readonly others = new Set<TrackedSocket>();
  private open = 0;
  private installed = true;
  private warned = false;
  /** The prototype of the last connection tracked: its class's methods are wrapped. */
  private knownProto: object | null = null;
  /** Whether that class lacks emitClose(), so that its connections need a `close` listener. */
  private listenForClose = false;
  private readonly patches = new Set<object>();
  private readonly unpatches: (() => void)[] = [];
  private readonly reconnects: ReconnectTracker | undefined;

  constructor(
    readonly wss: WebSocketServer,
    readonly recorder: CloseRecorder,
    private readonly otel: OtelBridge | undefined,
    private readonly onError: ((error: Error) => void) | undefined,
    private readonly clientKey: ((req: IncomingMessage) => string | undefined) | undefined,
    reconnectTable: ReconnectTableOptions | undefined,
    reconnectSink: ReconnectSink | undefined,
  ) {
    if (reconnectTable !== undefined) this.reconnects = new ReconnectTracker(recorder, reconnectSink ?? new LocalReconnects(this, reconnectTable));
    this.clients = wss.clients instanceof Set ? wss.clients : undefined;
    // First in line: a `connection` listener added before instrument() may close the socket at once (express-ws does for unrouted paths).
    if (typeof wss.prependListener === 'function') wss.prependListener('connection', this.onConnection);
    else wss.on('connection', this.onConnection);
    // Connections open before instrument() are adopted from now on.
    if (wss.clients) for (const ws of wss.clients) this.track(ws);
  }

  readonly onConnection = (ws: WebSocket, req?: IncomingMessage): void => {
    try {
      this.track(ws, req);
    } catch (err) {
      this.report(err);
    }
  };

  private track(ws: TrackedSocket, req?: IncomingMessage): void {
    if (ws[kState] !== undefined || ws.readyState !== OPEN) return;
    const proto = Object.getPrototypeOf(ws) as object | null;
    if (proto !== this.knownProto) this.wrapMethodsOf(ws, proto);
    this.recorder.recordOpen(); // first: if it throws, the connection stays untracked and the counts consistent
    const span = this.otel === undefined ? undefined : activeSpan();
    const start = performance.now();
    const keyHash =
      this.reconnects !== undefined && req !== undefined ? this.reconnects.open(clientKeyOf(this, this.clientKey, req), TIME_ORIGIN + start) : NO_KEY;
    const info = this.recorder.wantsDetails ? connectionInfo(req, ws) : undefined;
    ws[kState] = {
      hook: this,
      start,
      code: 0,
      initiator: INITIATOR_SERVER,
      terminated: false,
      attributedTo: -1,
      inCall: false,
      span,
      closeStart: 0,
      closeBy: INITIATOR_SERVER,
      keyHash,
      info,
    };
    if (this.listenForClose) ws.on('close', onTrackedClose);
    this.open++;
    if (this.clients === undefined || !this.clients.has(ws)) this.others.add(ws);
  }

  private wrapMethodsOf(ws: TrackedSocket, proto: object | null): void {
    const unpatchClose = patchMethod(ws, 'close', closePatches, wrapClose, this.patches);
    if (unpatchClose !== undefined) this.unpatches.push(unpatchClose);
    const unpatchTerminate = patchMethod(ws, 'terminate', terminatePatches, wrapTerminate, this.patches);
    if (unpatchTerminate !== undefined) this.unpatches.push(unpatchTerminate);
    const emitCloseOwner = methodOwner(ws, 'emitClose');
    const unpatchEmitClose = patchMethod(ws, 'emitClose', emitClosePatches, wrapEmitClose, this.patches);
    if (unpatchEmitClose !== undefined) this.unpatches.push(unpatchEmitClose);
    this.listenForClose = emitCloseOwner === undefined;
    this.knownProto = proto;
  }

  recordClose(st: ConnectionState, code: number, initiator: number, durationSeconds: number, now: number, reason: Buffer | string | undefined): void {
    const details = this.recorder.wantsDetails ? closeDetails(st.info, reason, now) : undefined;
    const series = this.recorder.recordClose(code, initiator, durationSeconds, details);
    this.otel?.recordClose(series, durationSeconds, st.span);
    if (st.keyHash !== NO_KEY) this.reconnects?.close(st.keyHash, code, TIME_ORIGIN + now);
  }

  /** A close without a close frame; `abnormal` is packAbnormal(side, cause). */
  recordAbnormalClose(st: ConnectionState, abnormal: number, durationSeconds: number, now: number): void {
    const details = this.recorder.wantsDetails ? closeDetails(st.info, undefined, now) : undefined;
    const series = this.recorder.recordAbnormalClose(abnormal >> 3, abnormal & 7, durationSeconds, details);
    this.otel?.recordClose(series, durationSeconds, st.span);
    if (st.keyHash !== NO_KEY) this.reconnects?.close(st.keyHash, 1006, TIME_ORIGIN + now);
  }

  /** From this hook's reconnect table. */
  recordReconnect(previous: number, delaySeconds: number): void {
    this.recorder.recordReconnect(previous, delaySeconds);
    this.otel?.recordReconnect(previous, delaySeconds);
  }

  recordCloseHandshake(initiator: number, seconds: number, answered: boolean): void {
    this.recorder.recordCloseHandshake(initiator, seconds, answered);
    this.otel?.recordCloseHandshake(initiator, seconds);
  }

  /** A tracked connection closed. */
  forget(ws: TrackedSocket): void {
    this.open--;
    if (this.others.size > 0) this.others.delete(ws);
  }

  /** The connections this hook tracks that are still open. */
  private liveConnections(): TrackedSocket[] {
    const out = [...this.others];
    if (this.clients !== undefined) for (const ws of this.clients) if (ws[kState]?.hook === this && !this.others.has(ws)) out.push(ws);
    return out;
  }

  /** Close (or, without a code, terminate) `ws` with the close recorded under `initiator`; false when this hook does not track it. */
  closeAttributed(ws: WebSocket, initiator: number, code: number | undefined): boolean {
    const tracked = ws as unknown as TrackedSocket;
    const st = tracked[kState];
    if (st === undefined || st.hook !== this) return false;
    st.attributedTo = initiator;
    if (code === undefined) tracked.terminate();
    else tracked.close(code);
    return true;
  }

  /** The connections this hook tracks that are still open. */
  openSockets(): WebSocket[] {
    return this.liveConnections() as unknown as WebSocket[];
  }

  get openConnections(): number {
    return this.open;
  }

  report(err: unknown): void {
    this.warned = reportHookError(err, this.onError, this.warned);
  }

  uninstall(): void {
    if (!this.installed) return;
    this.installed = false;
    this.wss.removeListener('connection', this.onConnection);
    for (const ws of this.liveConnections()) {
      ws[kState] = undefined;
      ws.removeListener('close', onTrackedClose); // where there was one (no emitClose to wrap)
    }
    this.others.clear();
    this.open = 0;
    this.otel?.release();
    for (const unpatch of this.unpatches.splice(0)) unpatch();
    this.patches.clear();
    this.knownProto = null;
  }
}

/** Duck-typed so a recorder from the CommonJS build works with the ESM hook and back. */
function isRecorder(value: unknown): value is CloseRecorder {
  if (value === null || typeof value !== 'object') return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.recordOpen === 'function' && typeof r.recordClose === 'function' && typeof r.recordViolation === 'function' && typeof r.forEachClose === 'function'
  );
}

/**
 * Record every close of `wss`'s connections. Works with a
 * server that owns its HTTP server, with `noServer: true` (emit `connection`
 * from your `handleUpgrade` callback, as the ws docs show) and with servers
 * created by frameworks. Options are validated here and throw OptionError /
 * CodeNameError naming the bad option; nothing thrown later reaches the app.
 */
export function instrument(wss: WebSocketServer, options: InternalInstrumentOptions = {}): Instrumentation {
  if (wss === null || typeof wss !== 'object' || typeof (wss as { on?: unknown }).on !== 'function') {
    throw new OptionError('instrument(wss): wss must be a ws WebSocketServer');
  }
  if (options === null || typeof options !== 'object') throw new OptionError('options must be an object');
  if (options.recorder !== undefined && !isRecorder(options.recorder)) {
    throw new OptionError('recorder must be a CloseRecorder returned by createRecorder()');
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new OptionError('onError must be a function');
  }
  const reconnectTable = validateReconnectOptions(options);
  const recorder = options.recorder ?? createRecorder(options);
  return new Hook(wss, recorder, OtelBridge.create(recorder, options.meterProvider), options.onError, options.clientKey, reconnectTable, options.reconnectSink);
}

/** The hook behind an instrumentation, for the package's internal modules (attribution.ts); undefined for anything else. */
export function hookOf(instrumentation: unknown): Hook | undefined {
  return instrumentation instanceof Hook ? instrumentation : undefined;
}
