/**
 * ws-close-agent's public API. The hook: instrument(wss). The exposition:
 * metricsHandler(registry). The table: classify(code). The live page and
 * recent closes: closesPage(options).
 */
export { classify, parseCodeNames, CLOSE_CODE_TABLE, CodeNameError } from './codes/close-codes.js';
export type { Classification, CloseCategory, CodeNames } from './codes/close-codes.js';
export { instrument } from './hook/instrument.js';
export type { InstrumentOptions, Instrumentation } from './hook/instrument.js';
export { createRecorder } from './recorder/registry.js';
export { CloseRecorder } from './recorder/recorder.js';
export { OptionError } from './recorder/options.js';
export type { RecorderOptions } from './recorder/options.js';
export { metricsHandler, renderMetrics } from './export/http.js';
export { closesPage } from './live/closes-page.js';
export type { ClosesPage, ClosesPageOptions } from './live/closes-page.js';
export type { CloseEntry } from './live/close-entry.js';
export { INITIATORS, VIOLATION_KINDS, UPGRADE_FAILURE_REASONS, DEFAULT_PREFIX } from './codes/vocabulary.js';
export type { Initiator, ViolationKind, UpgradeFailureReason } from './codes/vocabulary.js';
