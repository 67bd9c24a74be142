/**
 * Case 1's second baseline: the recorder's close bookkeeping as it was
 * before it explained closes (1006 by side and cause, the close handshake,
 * reconnects), kept here so that the row reads "today against before" in
 * the same run. A copy of recordOpen() and recordClose() of that version
 * (git f352e34, src/recorder/recorder.ts), on today's building blocks,
 * which did not change since: the code slots and the duration histogram.
 * Only what a close touches is here; nothing is registered or exported.
 */
import { CodeSlots } from '../../dist/esm/recorder/code-slots.js';
import { FixedHistogram } from '../../dist/esm/recorder/family.js';
import { validateOptions } from '../../dist/esm/recorder/options.js';
import { DURATION_BUCKETS_SECONDS, INITIATORS, LABEL } from '../../dist/esm/codes/vocabulary.js';

const N_INITIATORS = INITIATORS.length;

export class RecorderBeforeExplain {
  constructor(options) {
    const { names, maxCustomCodes, labels } = validateOptions(options);
    this.slots = new CodeSlots(names, maxCustomCodes);
    this.counts = new Float64Array(this.slots.capacity * N_INITIATORS);
    this.series = [];
    this.opened = 0;
    this.active = 0;
    this.duration = new FixedHistogram(
      DURATION_BUCKETS_SECONDS,
      this.slots.codenames.map((codename) => ({ [LABEL.codename]: codename })),
      labels,
    );
    this.listeners = [];
    this.wantsDetails = false;
  }

  recordOpen() {
    this.opened++;
    this.active++;
  }

  recordClose(code, initiator, durationSeconds, details) {
    const slot = this.slots.slotOf(code);
    const i = slot * N_INITIATORS + (initiator & 3);
    this.counts[i] += 1;
    this.active--;
    this.duration.observe(this.slots.codenameIndexOf(slot), durationSeconds);
    const series = this.series[i] ?? this.seriesOf(i);
    if (this.listeners.length !== 0) this.notify(series, durationSeconds, details);
    return series;
  }

  seriesOf(i) {
    const series = { ...this.slots.labelsOf((i / N_INITIATORS) | 0), initiator: INITIATORS[i % N_INITIATORS] };
    this.series[i] = series;
    return series;
  }

  notify(series, durationSeconds, details) {
    for (const listener of this.listeners) {
      try {
        listener(series, durationSeconds, details);
      } catch {
        // as before: a listener's failure does not reach the source
      }
    }
  }
}
