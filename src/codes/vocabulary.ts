/**
 * Every metric name, label name and fixed label value of the public contract
 * (docs/metrics.md), spelled once. Dashboards, alert rules and other people's
 * queries depend on these strings: do not rename them.
 */

/** Default metric prefix; the `prefix` option replaces it. */
export const DEFAULT_PREFIX = 'websocket_';

/** Metric names without the prefix. */
export const METRIC = {
  closedTotal: 'connections_closed_total',
  openedTotal: 'connections_opened_total',
  active: 'connections_active',
  durationSeconds: 'connection_duration_seconds',
  upgradeFailuresTotal: 'upgrade_failures_total',
  protocolViolationsTotal: 'protocol_violations_total',
  // Explaining closes.
  abnormalClosuresTotal: 'abnormal_closures_total',
  closeHandshakeDurationSeconds: 'close_handshake_duration_seconds',
  closeHandshakesUnansweredTotal: 'close_handshakes_unanswered_total',
  reconnectsTotal: 'reconnects_total',
  reconnectDelaySeconds: 'reconnect_delay_seconds',
  // The client's side of the close.
  clientClosesTotal: 'client_closes_total',
  closeMismatchesTotal: 'close_mismatches_total',
  clientReportsRejectedTotal: 'client_reports_rejected_total',
} as const;

export const LABEL = {
  code: 'code',
  codename: 'codename',
  category: 'category',
  initiator: 'initiator',
  reason: 'reason',
  side: 'side',
  kind: 'kind',
  cause: 'cause',
  previousCodename: 'previous_codename',
  clean: 'clean',
  serverCodename: 'server_codename',
  clientCodename: 'client_codename',
} as const;

/**
 * Who sent the first close frame (or, with no close frame, whose transport
 * ended first). The index of each name is its slot in the recorder's arrays
 * (the INITIATOR_* constants are internal: public types use the names).
 */
export const INITIATORS = ['client', 'server', 'agent', 'unknown'] as const;
export type Initiator = (typeof INITIATORS)[number];
export const INITIATOR_CLIENT = 0;
export const INITIATOR_SERVER = 1;
export const INITIATOR_AGENT = 2;
export const INITIATOR_UNKNOWN = 3;

/** The side that put a bad frame on the wire. */
export const SIDES = ['client', 'server'] as const;
export type Side = (typeof SIDES)[number];
export const SIDE_CLIENT = 0;
export const SIDE_SERVER = 1;

/**
 * Fixed set of protocol-violation kinds. Anything unexpected is counted as
 * `other` so that no peer can grow this label.
 */
export const VIOLATION_KINDS = [
  'internal_code_on_wire', // close code that must never be sent (1004-1006, 1014-2999, 0-999)
  'invalid_code', // close code of 5000 and up
  'short_close_payload', // close frame with a 1-byte payload (RFC 6455 §5.5.1)
  'oversized_control_frame', // control payload over 125 bytes (§5.5)
  'fragmented_control_frame', // control frame without FIN (§5.5)
  'invalid_utf8_reason', // close reason that is not UTF-8 (§5.5.1)
  'invalid_utf8_message', // text message that is not UTF-8 (hook mode: ws rejects it with 1007)
  'invalid_opcode', // reserved opcode (§5.2)
  'unexpected_rsv', // RSV bit set without an extension that defines it, or on a control frame
  'bad_masking', // client frame not masked, or server frame masked (§5.1)
  'invalid_frame_length', // 64-bit length with the top bit set, or over 2^53 (§5.2)
  'message_too_large', // ws rejected a message over maxPayload with 1009
  'data_after_close', // a frame after this side's close frame (§5.5.1)
  'other',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

/** Fixed set of reasons a WebSocket upgrade failed before it opened. */
export const UPGRADE_FAILURE_REASONS = [
  'upstream_unreachable',
  'upstream_timeout',
  'upstream_rejected', // the upstream answered, but not with a valid 101
  'bad_request', // the client's upgrade request was malformed
  'over_capacity', // --max-connections reached
  'handshake_timeout', // the client did not finish its request in time
  'client_aborted', // the client went away during the handshake
  'tls_handshake', // the TLS handshake on the agent's listener failed (the table's 1015, which no close frame carries)
  'other',
] as const;
export type UpgradeFailureReason = (typeof UPGRADE_FAILURE_REASONS)[number];

/** Whose transport ended first when a connection closed without a close frame. */
export const ABNORMAL_SIDES = ['client', 'server', 'agent'] as const;
// The same indexes as INITIATOR_CLIENT/SERVER/AGENT: a 1006's initiator is its side.

/** Fixed set of causes of a close without a close frame (1006). */
export const ABNORMAL_CAUSES = [
  'fin', // TCP closed cleanly without a close frame
  'reset', // ECONNRESET / EPIPE
  'terminated', // the hooked server called terminate()
  'timeout', // a timeout of ours or of the server ended it
  'error', // any other socket error
] as const;
export const CAUSE_FIN = 0;
export const CAUSE_RESET = 1;
export const CAUSE_TERMINATED = 2;
export const CAUSE_TIMEOUT = 3;
export const CAUSE_ERROR = 4;

/** Default reconnect window (ms) and table size, shared by the command and the library. */
export const DEFAULT_RECONNECT_WINDOW_MS = 60_000;
export const DEFAULT_RECONNECT_MAX_KEYS = 100_000;

/** Fixed set of reasons a client close report is turned away. */
export const CLIENT_REPORT_REJECT_REASONS = ['unknown_id', 'duplicate', 'too_large', 'bad_request', 'origin', 'rate_limited'] as const;
export type ClientReportRejectReason = (typeof CLIENT_REPORT_REJECT_REASONS)[number];

/** Default and largest `maxCustomCodes` (every code in 3000-4999); the command and the library share the rule. */
export const DEFAULT_MAX_CUSTOM_CODES = 100;
export const MAX_CUSTOM_CODES_LIMIT = 2000;

/** Histogram buckets for connection duration: 0.1 s to 1 day. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400];

/** Histogram buckets for the close handshake: 1 ms to 30 s. */
export const HANDSHAKE_BUCKETS_SECONDS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Histogram buckets for the delay before a reconnect: 50 ms to 5 min. */
export const RECONNECT_DELAY_BUCKETS_SECONDS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Build the full metric names for a prefix. */
export function metricNames(prefix: string): { [K in keyof typeof METRIC]: string } {
  return Object.fromEntries(Object.entries(METRIC).map(([key, name]) => [key, prefix + name])) as { [K in keyof typeof METRIC]: string };
}
