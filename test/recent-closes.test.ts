/**
 * The recent-closes ring and the escaping of peer text: a reason is at most
 * 123 bytes, control/bidi characters and invalid UTF-8 come out as visible
 * escapes, a path loses its query; the ring keeps the last N, newest first,
 * and holds no reference to the buffers it was handed.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { INITIATOR_CLIENT, INITIATOR_SERVER } from '../src/codes/vocabulary.js';
import { MAX_PATH_CHARS, escapeReason, escapeReasonText, pathOf } from '../src/live/close-entry.js';
import { RecentCloses } from '../src/live/recent-closes.js';
import { OptionError } from '../src/recorder/options.js';
import { createRecorder } from '../src/recorder/registry.js';

const bytes = (...b: number[]): Buffer => Buffer.from(b);

describe('escapeReason', () => {
  it('keeps printable text, including non-ASCII', () => {
    expect(escapeReason(Buffer.from('token expired'))).toBe('token expired');
    expect(escapeReason(Buffer.from('délai dépassé ✓ 😀'))).toBe('délai dépassé ✓ 😀');
  });

  it('escapes control characters, DEL, C1, bidi overrides, separators and backslashes', () => {
    expect(escapeReason(Buffer.from('a\nb\r\x00\x1b[31m\x7f'))).toBe('a\\u000ab\\u000d\\u0000\\u001b[31m\\u007f');
    expect(escapeReason(Buffer.from('\u0085x\u202egnp.exe\u2028\u2066'))).toBe('\\u0085x\\u202egnp.exe\\u2028\\u2066');
    expect(escapeReason(Buffer.from('C:\\u0041'))).toBe('C:\\\\u0041'); // a literal "\u0041" cannot pass for an escape
  });

  it('shows bytes that are not UTF-8 as \\xNN and goes on after them', () => {
    expect(escapeReason(bytes(0x61, 0xff, 0x62))).toBe('a\\xffb');
    expect(escapeReason(bytes(0xc0, 0xaf))).toBe('\\xc0\\xaf'); // overlong '/'
    expect(escapeReason(bytes(0xed, 0xa0, 0x80))).toBe('\\xed\\xa0\\x80'); // a surrogate
    expect(escapeReason(bytes(0xf4, 0x90, 0x80, 0x80))).toBe('\\xf4\\x90\\x80\\x80'); // above U+10FFFF
    expect(escapeReason(bytes(0xe2, 0x82))).toBe('\\xe2\\x82'); // truncated sequence
  });

  it('reads at most 123 bytes', () => {
    expect(escapeReason(Buffer.alloc(200, 0x41))).toBe('A'.repeat(123));
    // A sequence cut by the limit is shown as bytes, not half a character.
    const cut = Buffer.concat([Buffer.alloc(122, 0x41), Buffer.from('é')]);
    expect(escapeReason(cut)).toBe(`${'A'.repeat(122)}\\xc3`);
  });

  it('treats a reason given as text the same as its UTF-8 bytes', () => {
    for (const text of ['bye', '</script><img src=x onerror=alert(1)>', 'line\nbreak', 'x'.repeat(150), 'ünïcödé\u202e']) {
      expect(escapeReasonText(text)).toBe(escapeReason(Buffer.from(text)));
    }
  });
});

describe('pathOf', () => {
  it('drops the query string and the fragment', () => {
    expect(pathOf('/ws?token=secret&x=1')).toBe('/ws');
    expect(pathOf('/chat/room#frag')).toBe('/chat/room');
    expect(pathOf('/')).toBe('/');
    expect(pathOf(undefined)).toBe('');
  });

  it(`cuts a path at ${MAX_PATH_CHARS} characters and escapes control characters`, () => {
    const long = pathOf(`/${'a'.repeat(5000)}?q`);
    expect(long).toHaveLength(MAX_PATH_CHARS + 1);
    expect(long.endsWith('…')).toBe(true);
    expect(pathOf('/a\u0000b\u001b')).toBe('/a\\u0000b\\u001b');
  });
});

describe('RecentCloses', () => {
  function setup(size: number, peer = false) {
    const recorder = createRecorder({ registry: new Registry() });
    const ring = new RecentCloses({ size, peer });
    const detach = ring.attach(recorder);
    const close = (code: number, initiator: number, reason?: Buffer | string, path?: string, peerAddress?: string) => {
      recorder.recordOpen();
      recorder.recordClose(code, initiator, 1.5, { reason, path, peer: peerAddress });
    };
    return { recorder, ring, detach, close };
  }

  it('keeps the last N closes, newest first, with the code itself (not its label)', () => {
    const { ring, close } = setup(3);
    close(1000, INITIATOR_CLIENT, 'a');
    close(4001, INITIATOR_SERVER, 'b', '/ws?x=1');
    close(1001, INITIATOR_CLIENT);
    close(4321, INITIATOR_CLIENT, Buffer.from('d'));
    const entries = ring.list(10);
    expect(entries.map((e) => [e.code, e.codename, e.initiator, e.reason, e.path])).toEqual([
      [4321, 'APPLICATION', 'client', 'd', ''],
      [1001, 'CLOSE_GOING_AWAY', 'client', '', ''],
      [4001, 'APPLICATION', 'server', 'b', '/ws'],
    ]);
    expect(ring.recorded).toBe(4);
    expect(entries[0]).toMatchObject({ category: 'application', durationSeconds: 1.5 });
    expect(Date.now() - Date.parse(entries[0]!.time)).toBeLessThan(60_000);
    expect(entries[0]).not.toHaveProperty('peer');
  });

  it('lists with a limit, filters and after a given count', () => {
    const { ring, close } = setup(10);
    for (const code of [1000, 4001, 1000, 1006, 4001]) close(code, code === 4001 ? INITIATOR_SERVER : INITIATOR_CLIENT);
    expect(ring.list(2).map((e) => e.code)).toEqual([4001, 1006]);
    expect(ring.list(10, { code: 1000 })).toHaveLength(2);
    expect(ring.list(10, { codename: 'CLOSE_ABNORMAL' }).map((e) => e.code)).toEqual([1006]);
    expect(ring.list(10, { initiator: 'server' })).toHaveLength(2);
    expect(ring.list(10, {}, 3).map((e) => e.code)).toEqual([4001, 1006]);
  });

  it('keeps the peer only when asked to', () => {
    const { ring, close } = setup(2, true);
    close(1000, INITIATOR_CLIENT, undefined, '/', '127.0.0.1');
    expect(ring.list(1)[0]!.peer).toBe('127.0.0.1');
  });

  it('escapes what a source hands over as text when it is read, once, whatever the source', () => {
    const { ring, close } = setup(10);
    const long = `\\${'x'.repeat(200)}`;
    close(4000, INITIATOR_SERVER, 'bad\nreason \u202e C:\\dir');
    close(4000, INITIATOR_SERVER, long); // longer than a close frame carries: cut when recorded
    close(4000, INITIATOR_SERVER, Buffer.from('a\\b'));
    close(1000, INITIATOR_CLIENT, undefined, pathOf(`/p\\a th${'y'.repeat(300)}`)); // a source's pathOf() output (escapes and the cut mark): shown as it is
    close(1000, INITIATOR_CLIENT, undefined, '/raw\u0007path?token=secret#f'); // a foreign source's raw target: its query and controls never shown
    const [raw, cutPath, bufReason, longReason, textReason] = ring.list(10);
    expect(textReason!.reason).toBe('bad\\u000areason \\u202e C:\\\\dir');
    expect(longReason!.reason).toBe(escapeReasonText(long));
    expect(longReason!.reason.startsWith('\\\\x')).toBe(true); // the backslash doubled once, not twice
    expect(bufReason!.reason).toBe('a\\\\b');
    expect(cutPath!.path).toBe(pathOf(`/p\\a th${'y'.repeat(300)}`));
    expect(raw!.path).toBe('/raw\\u0007path');
  });

  it('copies the reason: reusing the buffer afterwards changes nothing', () => {
    const { ring, close } = setup(2);
    const buf = Buffer.from('first');
    close(4000, INITIATOR_CLIENT, buf.subarray(0, 5));
    buf.write('XXXXX');
    expect(ring.list(1)[0]!.reason).toBe('first');
  });

  it('a size of 0 keeps nothing; bad sizes are an OptionError', () => {
    const { ring, close } = setup(0);
    close(1000, INITIATOR_CLIENT);
    expect(ring.list(10)).toEqual([]);
    for (const size of [-1, 1.5, 1e9, '10']) expect(() => new RecentCloses({ size: size as number })).toThrow(OptionError);
  });

  it('stops when detached, and the recorder stops building details', () => {
    const { ring, recorder, detach, close } = setup(5);
    expect(recorder.wantsDetails).toBe(true);
    detach();
    expect(recorder.wantsDetails).toBe(false);
    close(1000, INITIATOR_CLIENT);
    expect(ring.recorded).toBe(0);
  });
});
