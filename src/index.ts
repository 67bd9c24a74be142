/**
 * ws-close-agent's public API (README, "API"): the hook and its adapters,
 * the exposition, and the two error classes. The close-code table and the
 * label vocabularies are in `ws-close-agent/codes`.
 */
export { CodeNameError } from './codes/close-codes.js';
export { OptionError } from './recorder/options.js';
export type { RecorderOptions } from './recorder/options.js';
export { instrument } from './hook/public.js';
export type {
  CloseDetails,
  CloseListener,
  CloseRecorder,
  CloseSeries,
  Initiator,
  InstrumentOptions,
  Instrumentation,
  UpgradeFailureReason,
} from './hook/public.js';
export { instrumentSocketIo } from './hook/engine-io.js';
export type { EngineIoServerLike, SocketIoServerLike } from './hook/engine-io.js';
export { bunWebSocket } from './hook/bun.js';
export type { BunServerWebSocketLike, BunWebSocketHandler } from './hook/bun.js';
export { trackWebSockets } from './hook/web-socket.js';
export type { StandardWebSocketLike, WebSocketTracker } from './hook/web-socket.js';
export { metricsHandler, renderMetrics } from './export/http.js';
export type { AnyRegistry, RequestHandler } from './export/http.js';
