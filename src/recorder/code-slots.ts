/**
 * Where each close code is counted: a slot per `code` label value. Codes
 * 1000-1015 and user-named codes have a slot each from the start; other
 * 3000-4999 codes get one in the order they are first seen until the cap,
 * after which they share their range's slot; everything else counts under
 * its range text. The `code` label therefore never holds more than a bounded
 * number of values, whatever the peers send.
 */
import { CLOSE_CODE_TABLE, MAX_CODE, classify, rangeText, type CodeNames } from '../codes/close-codes.js';

export class CodeSlots {
  /** Codenames the slots use, fixed at construction (built-ins, user names, FRAMEWORK, APPLICATION). */
  readonly codenames: string[] = [];
  private readonly codenameIndex = new Map<string, number>();
  private readonly codeSlot = new Int16Array(MAX_CODE + 1);
  private readonly slotCode: string[] = [];
  private readonly slotCategory: string[] = [];
  private readonly slotCodenameOf: Uint16Array;
  private readonly invalidSlot: number;
  private readonly customRangeSlots: [number, number][] = []; // [first code, range slot] of 3000-3999 and 4000-4999
  private customSlotsLeft: number;
  /** Slots in use; at most `capacity`. */
  used = 0;
  /** Slots there can ever be. */
  readonly capacity: number;

  constructor(
    private readonly names: CodeNames,
    maxCustomCodes: number,
  ) {
    this.customSlotsLeft = maxCustomCodes;
    const codenameOf: number[] = [];
    const addSlot = (codeLabel: string, codename: string, category: string): number => {
      this.slotCode.push(codeLabel);
      this.slotCategory.push(category);
      codenameOf.push(this.indexOfCodename(codename));
      return this.used++;
    };
    const addCodeSlot = (code: number): number => {
      const c = classify(code, names);
      return addSlot(String(code), c.codename, c.category);
    };

    for (let code = 1000; code <= 1015; code++) this.codeSlot[code] = addCodeSlot(code);
    for (const r of CLOSE_CODE_TABLE) {
      if (r.from === r.to) continue;
      const slot = addSlot(rangeText(r), r.codename, r.category);
      if (r.customizable) this.customRangeSlots.push([r.from, slot]);
      // Unnamed 3000-4999 codes start unassigned (-1) while custom slots remain.
      this.codeSlot.fill(r.customizable && maxCustomCodes > 0 ? -1 : slot, r.from, r.to + 1);
    }
    this.invalidSlot = this.codeSlot[MAX_CODE] as number;
    for (const code of names.keys()) this.codeSlot[code] = addCodeSlot(code);
    // The custom slots' codenames, reserved now so that the codename list never grows.
    this.indexOfCodename('FRAMEWORK');
    this.indexOfCodename('APPLICATION');
    this.capacity = this.used + maxCustomCodes;
    this.slotCodenameOf = new Uint16Array(this.capacity);
    this.slotCodenameOf.set(codenameOf);
  }

  private indexOfCodename(name: string): number {
    let i = this.codenameIndex.get(name);
    if (i === undefined) {
      i = this.codenames.push(name) - 1;
      this.codenameIndex.set(name, i);
    }
    return i;
  }

  /** The slot `code` counts in, assigning a custom slot on first sight. Any input. */
  slotOf(code: number): number {
    const slot = code >= 0 && code <= MAX_CODE && (code | 0) === code ? (this.codeSlot[code] as number) : this.invalidSlot;
    return slot < 0 ? this.assignCustomSlot(code) : slot;
  }

  /** The slot `code` would count in right now, without assigning one (-1: it would get a new one). */
  peekSlot(code: number): number {
    return code >= 0 && code <= MAX_CODE && (code | 0) === code ? (this.codeSlot[code] as number) : this.invalidSlot;
  }

  /** The `code` label value a close code is recorded under right now. */
  codeLabel(code: number): string {
    const slot = this.peekSlot(code);
    return slot < 0 ? String(code) : (this.slotCode[slot] as string);
  }

  /** The codename index (into `codenames`) of a slot. */
  codenameIndexOf(slot: number): number {
    return this.slotCodenameOf[slot] as number;
  }

  /** The codename index of a codename (built-in, user-registered or a range's). */
  codenameIndexByName(name: string): number | undefined {
    return this.codenameIndex.get(name);
  }

  labelsOf(slot: number): { code: string; codename: string; category: string } {
    return {
      code: this.slotCode[slot] as string,
      codename: this.codenames[this.slotCodenameOf[slot] as number] as string,
      category: this.slotCategory[slot] as string,
    };
  }

  private assignCustomSlot(code: number): number {
    const slot = this.used++;
    const c = classify(code, this.names);
    this.slotCode[slot] = String(code);
    this.slotCategory[slot] = c.category;
    this.slotCodenameOf[slot] = this.codenameIndex.get(c.codename) as number;
    this.codeSlot[code] = slot;
    if (--this.customSlotsLeft === 0) {
      // Cap reached: every code not seen yet falls back to its range text.
      for (const [from, rangeSlot] of this.customRangeSlots) {
        for (let c2 = from; c2 < from + 1000; c2++) if (this.codeSlot[c2] === -1) this.codeSlot[c2] = rangeSlot;
      }
    }
    return slot;
  }
}
