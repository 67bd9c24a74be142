/**
 * The mix of closes. Connection number i (held and churned connections are
 * numbered in one sequence) plays MIX[i % MIX.length]; the custom codes vary
 * with the round (i / MIX.length). Each scenario says what the client does,
 * which close code the client must see, and the series the agent must
 * record: "code codename category initiator", written out here by hand from
 * SPEC section 2/3 (an oracle independent of src/).
 *
 * Custom codes used: 4000-4019 and 3000-3009 (client), 4100-4119 and
 * 3100-3109 (upstream), 60 in all, below the default cap of 100 distinct
 * unnamed codes, so each keeps its own `code` label; 4321 is named with
 * --codes (NAMED_CODE_FLAG).
 */

export const NAMED_CODE = 4321;
export const NAMED_CODENAME = 'SOAK_NAMED';
export const NAMED_CODE_FLAG = `${NAMED_CODE}=${NAMED_CODENAME}`;

const STANDARD = {
  1000: 'CLOSE_NORMAL',
  1001: 'CLOSE_GOING_AWAY',
  1005: 'CLOSED_NO_STATUS',
  1006: 'CLOSE_ABNORMAL',
  1008: 'POLICY_VIOLATION',
  1011: 'INTERNAL_ERROR',
  1012: 'SERVICE_RESTART',
};

/** The expected series key of a close. */
export function seriesKey(code, initiator) {
  if (STANDARD[code]) return `${code} ${STANDARD[code]} standard ${initiator}`;
  if (code === NAMED_CODE) return `${code} ${NAMED_CODENAME} application ${initiator}`;
  if (code >= 3000 && code <= 3999) return `${code} FRAMEWORK framework ${initiator}`;
  if (code >= 4000 && code <= 4999) return `${code} APPLICATION application ${initiator}`;
  throw new Error(`no expected series for code ${code}`);
}

/**
 * `by`: who acts ('client' = the load client, 'server' = the upstream on a
 * command). `code(round)`: the close code sent (undefined = empty close
 * frame), or 'terminate' for a TCP close without a close frame.
 */
export const MIX = [
  { name: 'client 1000', by: 'client', code: () => 1000 },
  { name: 'client 1001', by: 'client', code: () => 1001 },
  { name: 'client 4000-4019', by: 'client', code: (r) => 4000 + (r % 20) },
  { name: 'client 3000-3009', by: 'client', code: (r) => 3000 + (r % 10) },
  { name: `client ${NAMED_CODE} (named)`, by: 'client', code: () => NAMED_CODE },
  { name: 'client 1008', by: 'client', code: () => 1008 },
  { name: 'client empty close', by: 'client', code: () => undefined },
  { name: 'client terminate', by: 'client', code: () => 'terminate' },
  { name: 'upstream 1000', by: 'server', code: () => 1000 },
  { name: 'upstream 1001', by: 'server', code: () => 1001 },
  { name: 'upstream 1011', by: 'server', code: () => 1011 },
  { name: 'upstream 1012', by: 'server', code: () => 1012 },
  { name: 'upstream 4100-4119', by: 'server', code: (r) => 4100 + (r % 20) },
  { name: 'upstream 3100-3109', by: 'server', code: (r) => 3100 + (r % 10) },
  { name: 'upstream empty close', by: 'server', code: () => undefined },
  { name: 'upstream terminate', by: 'server', code: () => 'terminate' },
];

/**
 * What connection number i does: { by, code (number | undefined | 'terminate'),
 * command (the upstream's text command, for by = 'server'), clientSees (the
 * code of the client's close event), key (the series the agent must record) }.
 */
export function scenarioOf(i) {
  const s = MIX[i % MIX.length];
  const code = s.code(Math.floor(i / MIX.length));
  const recorded = code === 'terminate' ? 1006 : code === undefined ? 1005 : code;
  return {
    by: s.by,
    code,
    command: s.by === 'server' ? (code === 'terminate' ? '!terminate' : code === undefined ? '!close' : `!close ${code}`) : undefined,
    clientSees: recorded,
    key: seriesKey(recorded, s.by),
  };
}

/** Add the counts of `b` into `a` (series key -> count). */
export function addCounts(a, b) {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
  return a;
}

/** Keys whose counts differ: { key: { expected, actual } }. */
export function diffCounts(expected, actual) {
  const out = {};
  for (const k of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
    const e = expected[k] ?? 0;
    const a = actual[k] ?? 0;
    if (e !== a) out[k] = { expected: e, actual: a };
  }
  return out;
}
