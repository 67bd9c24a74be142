/**
 * `ws-close-agent/codes`: the close-code table and the fixed label
 * vocabularies, for dashboards, tests and code that reads the metrics. Pure
 * data and functions: it loads neither prom-client nor ws.
 */
export { classify, CLOSE_CODE_TABLE } from './close-codes.js';
export type { Classification, CloseCategory } from './close-codes.js';
export { DEFAULT_PREFIX, INITIATORS, LABEL, METRIC, SIDES, UPGRADE_FAILURE_REASONS, VIOLATION_KINDS } from './vocabulary.js';
export type { Initiator, Side, UpgradeFailureReason, ViolationKind } from './vocabulary.js';
