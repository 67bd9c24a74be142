/**
 * instrument(wss): records every close of a `ws` WebSocketServer's
 * connections into a CloseRecorder, with the code of the first close frame on
 * the connection and the side that sent it (SPEC section 3).
 *
 * How the first close frame is found without touching the frames: each
 * connection's `close()` is wrapped (an own property pointing at one shared
 * function, so no closure per connection). When the server calls it while the
 * socket is open and no close frame has been received, the server initiated
 * the close with that code. ws also calls `close(statusCode)` itself when it
 * rejects a bad frame (receiverOnError), which is how the 1002/1007/1008/1009
 * it sends gets recorded. Otherwise the `close` event's code is the client's
 * (1005 for an empty payload), or 1006 when no close frame arrived.
 */
import type { IncomingMessage } from 'node:http';
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
  /** The span active when the connection opened (the upgrade request's), for a close event. */
  readonly span: Span | undefined;
}

/** The ws internals the hook reads; every access is guarded. */
interface TrackedSocket {
  [kState]?: ConnectionState | undefined;
  readyState: number;
  _closeFrameReceived?: boolean;
  _receiver?: { _opcode?: number; _writableState?: { errored?: unknown } };
  close(code?: number, data?: string | Buffer): void;
  terminate(): void;
  once(event: 'close', listener: (code: number) => void): unknown;
  removeListener(event: 'close', listener: (code: number) => void): unknown;
}

function protoMethod<K extends 'close' | 'terminate'>(ws: TrackedSocket, name: K): TrackedSocket[K] {
  return (Object.getPrototypeOf(ws) as TrackedSocket)[name];
}

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

// Installed as an own property of each tracked connection; `this` is the connection.
function closeTracked(this: TrackedSocket, code?: number, data?: string | Buffer): void {
  const st = this[kState];
  const first = st !== undefined && st.code === 0 && !st.terminated && this.readyState === OPEN && this._closeFrameReceived !== true;
  protoMethod(this, 'close').call(this, code, data); // an invalid code throws here, into the caller, as without the hook
  if (!first) return;
  try {
    st.code = code ?? 1005; // close() without a code sends an empty payload
    st.initiator = st.closingAsAgent ? INITIATOR_AGENT : INITIATOR_SERVER;
    // ws calls close(statusCode) itself when it rejects a frame; its receiver then holds the error.
    const errored = this._receiver?._writableState?.errored;
    if (errored) st.hook.recorder.recordViolation(SIDE_CLIENT, violationOfWsError(errored, this._receiver?._opcode));
  } catch (err) {
    st.hook.report(err);
  }
}

function terminateTracked(this: TrackedSocket): void {
  const st = this[kState];
  if (st !== undefined && st.code === 0 && !st.terminated && this._closeFrameReceived !== true) {
    st.terminated = true;
    st.initiator = st.closingAsAgent ? INITIATOR_AGENT : INITIATOR_SERVER;
  }
  protoMethod(this, 'terminate').call(this);
}

function onTrackedClose(this: TrackedSocket, receivedCode: number): void {
  const st = this[kState];
  if (st === undefined) return;
  const hook = st.hook;
  try {
    hook.untrack(this);
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
  private readonly live = new Set<TrackedSocket>();
  private installed = true;
  private warned = false;

  constructor(
    readonly wss: WebSocketServer,
    readonly recorder: CloseRecorder,
    private readonly otel: OtelBridge | undefined,
    private readonly onError: ((error: Error) => void) | undefined,
  ) {
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
    this.recorder.recordOpen(); // first: if it throws, the connection stays untracked and the counts consistent
    this.otel?.recordOpen();
    const span = this.otel === undefined ? undefined : trace.getActiveSpan();
    ws[kState] = { hook: this, start: performance.now(), code: 0, initiator: INITIATOR_SERVER, terminated: false, closingAsAgent: false, span };
    ws.close = closeTracked;
    ws.terminate = terminateTracked;
    ws.once('close', onTrackedClose);
    this.live.add(ws);
  }

  recordClose(st: ConnectionState, code: number, initiator: number, durationSeconds: number): void {
    const slot = this.recorder.recordClose(code, initiator, durationSeconds);
    this.otel?.recordClose(slot, initiator, durationSeconds, st.span);
  }

  untrack(ws: TrackedSocket): void {
    ws[kState] = undefined;
    if (ws.close === closeTracked) delete (ws as Partial<TrackedSocket>).close;
    if (ws.terminate === terminateTracked) delete (ws as Partial<TrackedSocket>).terminate;
    ws.removeListener('close', onTrackedClose);
    this.live.delete(ws);
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
    const all = [...this.live];
    for (const ws of all) this.closeAsAgent(ws as unknown as WebSocket, code);
    return all.length;
  }

  /** Terminate every connection still open (after the drain timeout), as the agent. */
  terminateAllAsAgent(): void {
    for (const ws of [...this.live]) {
      const st = ws[kState];
      if (st !== undefined) st.closingAsAgent = true;
      ws.terminate();
    }
  }

  get openConnections(): number {
    return this.live.size;
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
    for (const ws of [...this.live]) this.untrack(ws);
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
