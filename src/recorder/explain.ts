/**
 * The counters that explain closes rather than only count them: closes
 * without a close frame (1006) by side and cause, the close handshake (its
 * duration and the ones never answered) by initiator, and reconnects by how
 * the previous connection ended. Every series is over a fixed vocabulary (or
 * the recorder's fixed codename list), so no peer can grow a label.
 */
import { ABNORMAL_CAUSES, ABNORMAL_SIDES, HANDSHAKE_BUCKETS_SECONDS, INITIATORS, LABEL, RECONNECT_DELAY_BUCKETS_SECONDS } from '../codes/vocabulary.js';
import { FixedCounter, FixedHistogram, type Labels } from './family.js';

const N_CAUSES = ABNORMAL_CAUSES.length;
const N_SIDES = ABNORMAL_SIDES.length;

export class ExplainCounters {
  /** websocket_abnormal_closures_total: series side * N_CAUSES + cause. */
  readonly abnormal: FixedCounter;
  /** websocket_close_handshake_duration_seconds, one histogram per initiator. */
  readonly handshakeDuration: FixedHistogram;
  /** websocket_close_handshakes_unanswered_total, one series per initiator. */
  readonly unanswered: FixedCounter;
  /** websocket_reconnects_total, one series per codename of the recorder. */
  readonly reconnects: FixedCounter;
  /** websocket_reconnect_delay_seconds, one histogram per codename. */
  readonly reconnectDelay: FixedHistogram;

  /** `codenames` is the recorder's fixed codename list (its indexes are the reconnect series). */
  constructor(codenames: readonly string[], constLabels: Labels) {
    this.abnormal = new FixedCounter(
      ABNORMAL_SIDES.flatMap((side) => ABNORMAL_CAUSES.map((cause) => ({ [LABEL.side]: side, [LABEL.cause]: cause }))),
      constLabels,
    );
    // The common causes are exported at zero, so that rate() sees their first increment.
    for (let side = 0; side < 2; side++) for (let cause = 0; cause < 2; cause++) this.abnormal.exportAtZero(side * N_CAUSES + cause);
    const byInitiator = INITIATORS.map((initiator) => ({ [LABEL.initiator]: initiator }));
    this.handshakeDuration = new FixedHistogram(HANDSHAKE_BUCKETS_SECONDS, byInitiator, constLabels);
    this.unanswered = new FixedCounter(byInitiator, constLabels);
    const byPrevious = codenames.map((codename) => ({ [LABEL.previousCodename]: codename }));
    this.reconnects = new FixedCounter(byPrevious, constLabels);
    this.reconnectDelay = new FixedHistogram(RECONNECT_DELAY_BUCKETS_SECONDS, byPrevious, constLabels);
  }

  /** A close without a close frame: `side` indexes ABNORMAL_SIDES, `cause` ABNORMAL_CAUSES (out of range: `error`). */
  countAbnormal(side: number, cause: number): void {
    const s = side >= 0 && side < N_SIDES ? side : 0;
    const c = cause >= 0 && cause < N_CAUSES ? cause : N_CAUSES - 1;
    this.abnormal.inc(s * N_CAUSES + c);
  }

  /** A close handshake that ended after `seconds`; `answered`: the other side sent its close frame back. */
  recordHandshake(initiator: number, seconds: number, answered: boolean): void {
    const i = initiator & 3;
    this.handshakeDuration.observe(i, seconds);
    if (!answered) this.unanswered.inc(i);
  }

  /** A reconnect `delaySeconds` after a connection that ended under codename index `previous`. */
  recordReconnect(previous: number, delaySeconds: number): void {
    this.reconnects.inc(previous);
    this.reconnectDelay.observe(previous, delaySeconds);
  }

  reset(): void {
    this.abnormal.reset();
    this.handshakeDuration.reset();
    this.unanswered.reset();
    this.reconnects.reset();
    this.reconnectDelay.reset();
  }
}
