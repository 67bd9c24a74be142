/**
 * Connections of a WebSocket implementation that is not `ws` (Bun's
 * ServerWebSocket, the web-standard WebSocket of Deno.upgradeWebSocket): the
 * adapter reports the open, a close() or terminate() the server called, and
 * the close the runtime reported; this decides the code and initiator the
 * same way the ws hook does. The first close frame wins: a close() the
 * server called first is recorded with its code (1005 without one) and
 * initiator `server`; otherwise the code the runtime received (1005 for an
 * empty close frame) with initiator `client`; no close frame at all is 1006,
 * under the side whose transport ended first.
 */
import { reportHookError } from './hook-error.js';
import { performance } from 'node:perf_hooks';
import { INITIATOR_CLIENT, INITIATOR_SERVER } from '../codes/vocabulary.js';
import { OtelBridge } from '../otel.js';
import { OptionError } from '../recorder/options.js';
import type { CloseRecorder } from '../recorder/recorder.js';
import { createRecorder } from '../recorder/registry.js';
import type { InstrumentOptions } from './instrument.js';
import { rejectRecorderOption } from './public.js';

export interface ForeignState {
  readonly owner: ForeignConnections;
  readonly start: number;
  /** Code of the close frame the server sent first; 0 while none. */
  code: number;
  /** The server ended the transport without a close frame (terminate()). */
  terminated: boolean;
  done: boolean;
}

export class ForeignConnections {
  readonly recorder: CloseRecorder;
  private readonly otel: OtelBridge | undefined;
  private readonly onError: ((error: Error) => void) | undefined;
  private installed = true;
  private warned = false;

  constructor(options: InstrumentOptions, what: string) {
    if (options === null || typeof options !== 'object') throw new OptionError(`${what}: options must be an object`);
    rejectRecorderOption(options);
    if (options.onError !== undefined && typeof options.onError !== 'function') throw new OptionError('onError must be a function');
    this.recorder = createRecorder(options);
    this.otel = OtelBridge.create(this.recorder, options.meterProvider);
    this.onError = options.onError;
  }

  /** A connection completed its handshake; undefined once uninstalled. */
  opened(): ForeignState | undefined {
    if (!this.installed) return undefined;
    this.recorder.recordOpen();
    return { owner: this, start: performance.now(), code: 0, terminated: false, done: false };
  }

  /**
   * The server is calling close(code) (`code` is what the runtime sends for
   * it: Bun sends 1000 for close() without a code, a web-standard socket an
   * empty payload, 1005). Set before the runtime's close() runs, since Bun
   * reports the close from inside it; true when this was the first close.
   */
  serverClosing(st: ForeignState, code: number): boolean {
    if (st.done || st.code !== 0 || st.terminated) return false;
    st.code = code;
    return true;
  }

  /** The runtime's close() threw (an invalid code): nothing was sent. */
  serverCloseFailed(st: ForeignState): void {
    st.code = 0;
  }

  /** The server is calling terminate(): the transport ends without a close frame. */
  serverTerminating(st: ForeignState): void {
    if (st.done || st.code !== 0) return;
    st.terminated = true;
  }

  /** The runtime reported the close: `receivedCode` is the close frame's code (1005 empty), 1006 when none arrived. */
  closed(st: ForeignState, receivedCode: number, closeFrameReceived: boolean): void {
    if (st.done) return;
    st.done = true;
    try {
      const duration = (performance.now() - st.start) / 1000;
      let series;
      if (st.code !== 0) series = this.recorder.recordClose(st.code, INITIATOR_SERVER, duration);
      else if (st.terminated) series = this.recorder.recordClose(1006, INITIATOR_SERVER, duration);
      else if (closeFrameReceived) series = this.recorder.recordClose(receivedCode, INITIATOR_CLIENT, duration);
      else series = this.recorder.recordClose(1006, INITIATOR_CLIENT, duration);
      this.otel?.recordClose(series, duration, undefined);
    } catch (err) {
      this.report(err);
    }
  }

  report(err: unknown): void {
    this.warned = reportHookError(err, this.onError, this.warned);
  }

  uninstall(): void {
    if (!this.installed) return;
    this.installed = false;
    this.otel?.release();
  }
}
