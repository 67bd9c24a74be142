/**
 * ws-close-agent's public API. The hook: instrument(wss). The exposition:
 * metricsHandler(registry). The table: classify(code).
 */
export { classify, parseCodeNames, CLOSE_CODE_TABLE, CodeNameError } from './close-codes.js';
export type { Classification, CloseCategory, CodeNames } from './close-codes.js';
export { instrument } from './hook.js';
export type { InstrumentOptions, Instrumentation } from './hook.js';
export { createRecorder, CloseRecorder, OptionError } from './metrics.js';
export type { RecorderOptions } from './metrics.js';
export { metricsHandler, renderMetrics } from './http.js';
export { INITIATORS, VIOLATION_KINDS, UPGRADE_FAILURE_REASONS, DEFAULT_PREFIX } from './metric-names.js';
export type { Initiator, ViolationKind, UpgradeFailureReason } from './metric-names.js';
