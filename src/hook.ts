/**
 * instrument(wss): records every close of a `ws` WebSocketServer's
 * connections into a CloseRecorder, with the code of the first close frame on
 * the connection and the side that sent it (SPEC section 3).
 *
 * How the first close frame is found without touching the frames: the
 * `close()` and `terminate()` methods of the connections' class are wrapped
 * once per process (on the prototype that defines them; per-instance wrappers
 * cost a hidden-class change on every connection, and removing them again
 * pushed each socket into dictionary mode), and so is ws's `emitClose()`,
 * which emits the `close` event (cheaper than a `close` listener on every
 * connection, measurably so in the churn benchmark; a `ws` without it gets
 * the listener). The wrappers look up the connection's state under a symbol;
 * connections that are not tracked pass straight through. When the server
 * calls close() while the socket is open
 * and no close frame has been received, the server initiated the close with
 * that code. ws also calls `close(statusCode)` itself when it rejects a bad
 * frame (receiverOnError), which is how the 1002/1007/1008/1009 it sends gets
 * recorded. Otherwise the `close` event's code is the client's (1005 for an
 * empty payload), or 1006 when no close frame arrived.
 */
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks'; // the global is a lazy getter, read on every access
import { trace, type MeterProvider, type Span } from '@opentelemetry/api';
import type { WebSocket, WebSocketServer } from 'ws';
import { wireViolation } from './close-codes.js';
import { createRecorder, OptionError, type CloseRecorder, type RecorderOptions } from './metrics.js';
import { OtelBridge } from './otel.js';
import {
  INITIATOR_AGENT,
  INITIATOR_CLIENT,
  INITIATOR_SERVER,
  SIDE_CLIENT,
  type ViolationKind,
} from './metric-names.js';

export interface InstrumentOptions extends RecorderOptions {
  /** Record into this recorder instead of the one for `registry`/`prefix`. */
  recorder?: CloseRecorder;
  /** Called with any error raised inside the hook; it never reaches the application. Default: a process warning, once. */
  onError?: (error: Error) => void;
  /** OpenTelemetry meter provider (default: the global one; the API's no-op provider records nothing and costs nothing). */
  meterProvider?: MeterProvider;
}

export interface Instrumentation {
  /** The recorder the hook feeds. */
  readonly recorder: CloseRecorder;
  /** Detach from the server and from every connection still open. */
  uninstall(): void;
}

const OPEN = 1;
const kState = Symbol('ws-close-agent.connection');

interface ConnectionState {
  readonly hook: Hook;
  readonly start: number;
  /** Code of the first close frame the server sent; 0 while none. */
  code: number;
  initiator: number;
  /** The transport was ended by this side without a close frame (terminate()). */
  terminated: boolean;
  /** Initiator to record for a close or terminate started by the agent itself (drain). */
  closingAsAgent: boolean;
  /** Inside a wrapped close()/terminate(): a nested wrapper (a subclass's close calling super.close) passes through. */
  inCall: boolean;
  /** The span active when the connection opened (the upgrade request's), for a close event. */
  readonly span: Span | undefined;
}

/** The ws internals the hook reads; every access is guarded. */
interface TrackedSocket {
  [kState]?: ConnectionState | undefined;
  readyState: number;
  _closeFrameReceived?: boolean;
  _receiver?: { _opcode?: number; _writableState?: { errored?: unknown } };
  /** ws's code of the close frame received (1005 for an empty payload), 1006 while none; what the `close` event carries. */
  _closeCode?: number;
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
type WrappedName = 'close' | 'terminate' | 'emitClose';
type WrappedMethod = CloseMethod | TerminateMethod | EmitCloseMethod;

/** The violation ws rejected a frame for, from the error it raised. */
function violationOfWsError(err: unknown, receiverOpcode: number | undefined): ViolationKind {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  switch (e.code) {
    case 'WS_ERR_INVALID_CLOSE_CODE': {
      const m = /invalid status code (\d+)/.exec(message);
      return (m && wireViolation(Number(m[1]))) || 'invalid_code';
    }
    case 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH':
      return /invalid payload length 1$/.test(message) ? 'short_close_payload' : 'oversized_control_frame';
    case 'WS_ERR_EXPECTED_FIN':
      return 'fragmented_control_frame';
    case 'WS_ERR_INVALID_UTF8':
      return receiverOpcode === 0x08 ? 'invalid_utf8_reason' : 'invalid_utf8_message';
    case 'WS_ERR_INVALID_OPCODE':
      return 'invalid_opcode';
    case 'WS_ERR_UNEXPECTED_RSV_1':
    case 'WS_ERR_UNEXPECTED_RSV_2_3':
      return 'unexpected_rsv';
    case 'WS_ERR_EXPECTED_MASK':
    case 'WS_ERR_UNEXPECTED_MASK':
      return 'bad_masking';
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return 'invalid_frame_length';
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
      return 'message_too_large';
    default:
      return 'other';
  }
}

/** close() of a tracked connection, around the class's own `original`. */
function wrapClose(original: CloseMethod): CloseMethod {
  return function closeTracked(this: TrackedSocket, code?: number, data?: string | Buffer): void {
    const st = this[kState];
    if (st === undefined || st.inCall) return original.call(this, code, data);
    const first = st.code === 0 && !st.terminated && this.readyState === OPEN && this._closeFrameReceived !== true;
    st.inCall = true;
    try {
      original.call(this, code, data); // an invalid code throws here, into the caller, as without the hook
    } finally {
      st.inCall = false;
    }
    if (!first || this[kState] !== st) return;
    try {
      st.code = code ?? 1005; // close() without a code sends an empty payload
      st.initiator = st.closingAsAgent ? INITIATOR_AGENT : INITIATOR_SERVER;
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
      st.initiator = st.closingAsAgent ? INITIATOR_AGENT : INITIATOR_SERVER;
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

/**
 * The close()/terminate()/emitClose() wrappers of one prototype (the one
 * that defines the method: ws's WebSocket.prototype, or a subclass's that
 * overrides it), shared by every hook whose connections use it. The last
 * hook to uninstall puts the original back, unless someone wrapped it after
 * us (then ours stays, inert, and is reused by the next hook instead of
 * being stacked).
 */
class MethodPatch<F extends WrappedMethod> {
  /** Installed hooks using the wrapper (a count: the patch must not keep a forgotten hook alive). */
  users = 0;
  private readonly descriptor: PropertyDescriptor;
  private readonly wrapper: F;

  constructor(
    private readonly owner: object,
    private readonly name: WrappedName,
    wrap: (original: F) => F,
  ) {
    this.descriptor = Object.getOwnPropertyDescriptor(owner, name) as PropertyDescriptor;
    this.wrapper = wrap(this.descriptor.value as F);
    Object.defineProperty(owner, name, { ...this.descriptor, value: this.wrapper });
  }

  /** One user no longer needs the wrapper; true when that put the original back. */
  release(): boolean {
    if (--this.users > 0) return false;
    if (Object.getOwnPropertyDescriptor(this.owner, this.name)?.value !== this.wrapper) return false;
    Object.defineProperty(this.owner, this.name, this.descriptor);
    return true;
  }
}

// Per owner prototype, for this copy of the module (the ESM and CJS builds each keep their own, with their own kState).
const closePatches = new WeakMap<object, MethodPatch<CloseMethod>>();
const terminatePatches = new WeakMap<object, MethodPatch<TerminateMethod>>();
const emitClosePatches = new WeakMap<object, MethodPatch<EmitCloseMethod>>();

/** The object in `ws`'s prototype chain that defines `name` as a method; undefined if none (or an own property of `ws`). */
function methodOwner(ws: object, name: WrappedName): object | undefined {
  for (let o: object | null = Object.getPrototypeOf(ws) as object | null; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const d = Object.getOwnPropertyDescriptor(o, name);
    if (d !== undefined) return typeof d.value === 'function' && d.configurable === true ? o : undefined;
  }
  return undefined;
}

/**
 * Wrap `name` where `ws`'s class defines it (once per process), unless the
 * patch is in `used` already; returns the function that releases it.
 */
function patchMethod<F extends WrappedMethod>(
  ws: object,
  name: WrappedName,
  patches: WeakMap<object, MethodPatch<F>>,
  wrap: (original: F) => F,
  used: Set<object>,
): (() => void) | undefined {
  const owner = methodOwner(ws, name);
  if (owner === undefined) return undefined;
  let patch = patches.get(owner);
  if (patch === undefined) {
    patch = new MethodPatch<F>(owner, name, wrap);
    patches.set(owner, patch);
  }
  if (used.has(patch)) return undefined;
  used.add(patch);
  patch.users++;
  const p = patch;
  return () => {
    if (p.release()) patches.delete(owner);
  };
}

// A tracked connection is done (from emitClose(), or as the `close` listener; `this` is the connection).
function onTrackedClose(this: TrackedSocket, receivedCode: number): void {
  const st = this[kState];
  if (st === undefined) return;
  const hook = st.hook;
  try {
    // ws emits `close` once: a listener can stay on the dead socket (removing it costs more than it saves).
    this[kState] = undefined;
    hook.forget(this);
    const duration = (performance.now() - st.start) / 1000;
    if (st.code !== 0) {
      hook.recordClose(st, st.code, st.initiator, duration);
    } else if (this._closeFrameReceived === true || (this._closeFrameReceived === undefined && receivedCode !== 1006)) {
      // ws accepted the client's close frame (it rejects most bad codes; 1014 it lets through).
      if (receivedCode !== 1005) {
        const violation = wireViolation(receivedCode);
        if (violation !== undefined) hook.recorder.recordViolation(SIDE_CLIENT, violation);
      }
      hook.recordClose(st, receivedCode, INITIATOR_CLIENT, duration);
    } else {
      hook.recordClose(st, 1006, st.terminated ? st.initiator : INITIATOR_CLIENT, duration);
    }
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

  constructor(
    readonly wss: WebSocketServer,
    readonly recorder: CloseRecorder,
    private readonly otel: OtelBridge | undefined,
    private readonly onError: ((error: Error) => void) | undefined,
  ) {
    this.clients = wss.clients instanceof Set ? (wss.clients as unknown as Set<TrackedSocket>) : undefined;
    wss.on('connection', this.onConnection);
    // Connections open before instrument() are adopted from now on.
    if (wss.clients) for (const ws of wss.clients) this.track(ws as unknown as TrackedSocket);
  }

  readonly onConnection = (ws: WebSocket, _req?: IncomingMessage): void => {
    try {
      this.track(ws as unknown as TrackedSocket);
    } catch (err) {
      this.report(err);
    }
  };

  private track(ws: TrackedSocket): void {
    if (ws[kState] !== undefined || ws.readyState !== OPEN) return;
    const proto = Object.getPrototypeOf(ws) as object | null;
    if (proto !== this.knownProto) this.wrapMethodsOf(ws, proto);
    this.recorder.recordOpen(); // first: if it throws, the connection stays untracked and the counts consistent
    const span = this.otel === undefined ? undefined : trace.getActiveSpan();
    ws[kState] = { hook: this, start: performance.now(), code: 0, initiator: INITIATOR_SERVER, terminated: false, closingAsAgent: false, inCall: false, span };
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

  recordClose(st: ConnectionState, code: number, initiator: number, durationSeconds: number): void {
    const slot = this.recorder.recordClose(code, initiator, durationSeconds);
    this.otel?.recordClose(slot, initiator, durationSeconds, st.span);
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

  /** Close one connection as the agent (idle timeout): recorded with initiator `agent`. */
  closeAsAgent(ws: WebSocket, code: number): void {
    const tracked = ws as unknown as TrackedSocket;
    const st = tracked[kState];
    if (st !== undefined) st.closingAsAgent = true;
    tracked.close(code);
  }

  /** Close every open connection as the agent (drain): recorded with initiator `agent`. */
  closeAllAsAgent(code: number): number {
    const all = this.liveConnections();
    for (const ws of all) this.closeAsAgent(ws as unknown as WebSocket, code);
    return all.length;
  }

  /** Terminate every connection still open (after the drain timeout), as the agent. */
  terminateAllAsAgent(): void {
    for (const ws of this.liveConnections()) {
      const st = ws[kState];
      if (st !== undefined) st.closingAsAgent = true;
      ws.terminate();
    }
  }

  get openConnections(): number {
    return this.open;
  }

  report(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      if (this.onError) this.onError(error);
      else if (!this.warned) {
        this.warned = true;
        process.emitWarning(`ws-close-agent hook error (further errors are not reported): ${error.message}`, { code: 'WS_CLOSE_AGENT_HOOK_ERROR' });
      }
    } catch {
      // A throwing error handler must not reach the application either.
    }
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
  return typeof r.recordOpen === 'function' && typeof r.recordClose === 'function' && typeof r.recordViolation === 'function' && typeof r.slotLabels === 'function';
}

/**
 * Record every close of `wss`'s connections (SPEC section 3). Works with a
 * server that owns its HTTP server, with `noServer: true` (emit `connection`
 * from your `handleUpgrade` callback, as the ws docs show) and with servers
 * created by frameworks. Options are validated here and throw OptionError /
 * CodeNameError naming the bad option; nothing thrown later reaches the app.
 */
export function instrument(wss: WebSocketServer, options: InstrumentOptions = {}): Instrumentation {
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
  const recorder = options.recorder ?? createRecorder(options);
  return new Hook(wss, recorder, OtelBridge.create(recorder, options.meterProvider), options.onError);
}

/** Agent-internal access to drain helpers (not part of the public API). */
export function drainHandle(instrumentation: Instrumentation): {
  closeAsAgent(ws: WebSocket, code: number): void;
  closeAllAsAgent(code: number): number;
  terminateAllAsAgent(): void;
  readonly openConnections: number;
} {
  if (!(instrumentation instanceof Hook)) throw new OptionError('not an instrumentation returned by instrument()');
  return instrumentation;
}
