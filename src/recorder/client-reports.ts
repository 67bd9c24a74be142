/**
 * The client's side of the close, counted: what browsers reported about
 * connections the server recorded (websocket_client_closes_total), where the
 * two views of one connection differ (websocket_close_mismatches_total), and
 * the reports turned away (websocket_client_reports_rejected_total).
 *
 * Every label comes from a fixed set: a client's code is counted in the
 * recorder's code slots, but never takes a new one (a code the server has
 * not given a slot counts under its range text), so a lying client can
 * neither grow the `code` label nor use up the custom-code slots the
 * server's own closes need; codenames are the slots' fixed list.
 */
import { CLOSE_CODE_TABLE, rangeText } from '../codes/close-codes.js';
import { CLIENT_REPORT_REJECT_REASONS, LABEL, type ClientReportRejectReason } from '../codes/vocabulary.js';
import type { CodeSlots } from './code-slots.js';
import { FixedCounter, LazyCounter, type Labels } from './family.js';
import type { CloseSeries } from './recorder.js';

const REJECT_INDEX = new Map<string, number>(CLIENT_REPORT_REJECT_REASONS.map((r, i) => [r, i]));
const CLEAN = ['false', 'true'] as const;

export class ClientReports {
  readonly closes: LazyCounter;
  readonly mismatches: LazyCounter;
  readonly rejected: FixedCounter;
  private readonly nCodenames: number;
  /** [first code, slot] of each customizable range's shared slot. */
  private readonly rangeSlots: [number, number][] = [];
  private enabled = false;
  private readonly codeLabels: (string | undefined)[] = [];

  constructor(
    private readonly slots: CodeSlots,
    constLabels: Labels,
  ) {
    const codenames = slots.codenames;
    this.nCodenames = codenames.length;
    this.closes = new LazyCounter(
      slots.capacity * 2,
      () => slots.used * 2,
      (id) => {
        const { code, codename, category } = slots.labelsOf(id >> 1);
        return { [LABEL.code]: code, [LABEL.codename]: codename, [LABEL.category]: category, [LABEL.clean]: CLEAN[id & 1] as string, ...constLabels };
      },
    );
    const n = this.nCodenames;
    this.mismatches = new LazyCounter(
      n * n,
      () => n * n,
      (id) => ({ [LABEL.serverCodename]: codenames[(id / n) | 0] as string, [LABEL.clientCodename]: codenames[id % n] as string, ...constLabels }),
    );
    this.rejected = new FixedCounter(
      CLIENT_REPORT_REJECT_REASONS.map((reason) => ({ [LABEL.reason]: reason })),
      constLabels,
    );
    const texts = new Map<string, number>();
    for (let slot = 0; slot < slots.used; slot++) texts.set(slots.labelsOf(slot).code, slot);
    for (const row of CLOSE_CODE_TABLE) {
      const slot = texts.get(rangeText(row));
      if (row.customizable && slot !== undefined) this.rangeSlots.push([row.from, slot]);
    }
  }

  /**
   * Reports are being taken: export the series that dashboards divide by
   * (and the alert's lost-frame pairs) at zero, so that rate() sees their
   * first increment. Until then the families stay empty.
   */
  enable(): void {
    if (this.enabled) return;
    this.enabled = true;
    for (const [code, clean] of [
      [1000, 1],
      [1001, 1],
      [1001, 0],
      [1006, 0],
    ] as const)
      this.closes.exportAtZero(this.slots.peekSlot(code) * 2 + clean);
    for (const server of ['CLOSE_NORMAL', 'CLOSE_GOING_AWAY']) this.mismatches.exportAtZero(this.pair(server, 'CLOSE_ABNORMAL'));
    for (let i = 0; i < CLIENT_REPORT_REJECT_REASONS.length; i++) this.rejected.exportAtZero(i);
  }

  /** The slot a client's code counts in: the server's slot for it, or its range's; never a new one. */
  private clientSlot(code: number): number {
    const slot = this.slots.peekSlot(code);
    if (slot >= 0) return slot;
    for (const [from, rangeSlot] of this.rangeSlots) if (code >= from && code < from + 1000) return rangeSlot;
    return this.slots.peekSlot(-1); // not reached: only unassigned custom codes peek -1
  }

  private pair(serverCodename: string, clientCodename: string): number {
    const s = this.slots.codenameIndexByName(serverCodename) as number;
    const c = this.slots.codenameIndexByName(clientCodename) as number;
    return s * this.nCodenames + c;
  }

  /**
   * A client's report of `code` (CloseEvent.code) and `clean`, joined with
   * the close the server recorded for the same connection. The views differ
   * when the two codes count under different `code` label values.
   */
  recordReport(server: CloseSeries, code: number, clean: boolean): void {
    const slot = this.clientSlot(code);
    this.closes.counts[slot * 2 + (clean ? 1 : 0)]! += 1;
    if (this.codeLabelOf(slot) !== server.code) {
      const s = this.slots.codenameIndexByName(server.codename) as number;
      this.mismatches.counts[s * this.nCodenames + this.slots.codenameIndexOf(slot)]! += 1;
    }
  }

  /** The `code` label of a slot, kept per slot (labelsOf() builds an object). */
  private codeLabelOf(slot: number): string {
    return (this.codeLabels[slot] ??= this.slots.labelsOf(slot).code);
  }

  /** A report turned away. */
  recordRejected(reason: ClientReportRejectReason): void {
    this.rejected.inc(REJECT_INDEX.get(reason) ?? (REJECT_INDEX.get('bad_request') as number));
  }

  reset(): void {
    this.closes.counts.fill(0);
    this.mismatches.counts.fill(0);
    this.rejected.reset();
  }
}
