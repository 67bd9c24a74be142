import { execFileSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  CAUSE_FIN,
  CAUSE_RESET,
  CAUSE_TERMINATED,
  CAUSE_TIMEOUT,
  INITIATOR_AGENT,
  INITIATOR_CLIENT,
  INITIATOR_SERVER,
  INITIATOR_UNKNOWN,
} from '../src/codes/vocabulary.js';
import { KeyHasher } from '../src/recorder/key-hash.js';
import { ReconnectTable } from '../src/recorder/reconnect-table.js';
import { LocalReconnects, ReconnectTracker } from '../src/recorder/reconnects.js';
import { createRecorder } from '../src/recorder/registry.js';
import { parseExposition, checkExposition, sumOf } from './helpers/exposition.js';

async function lines(registry: Registry): Promise<string[]> {
  const text = await registry.metrics();
  checkExposition(text);
  return text.split('\n');
}

/** Every expected line is in the exposition (each checked on its own, so a failure names the line). */
function expectLines(l: string[], expected: string[]): void {
  for (const line of expected) expect(l, line).toContain(line);
}

describe('explaining closes: exposition', () => {
  it('a fresh recorder exports the common abnormal causes at zero and nothing else of the new families', async () => {
    const registry = new Registry();
    createRecorder({ registry });
    const text = (await lines(registry)).filter((l) => /^websocket_(abnormal|close_handshake|reconnect)/.test(l));
    expect(text).toEqual([
      'websocket_abnormal_closures_total{side="client",cause="fin"} 0',
      'websocket_abnormal_closures_total{side="client",cause="reset"} 0',
      'websocket_abnormal_closures_total{side="server",cause="fin"} 0',
      'websocket_abnormal_closures_total{side="server",cause="reset"} 0',
    ]);
    const all = await registry.metrics();
    expect(all).toContain('# TYPE websocket_close_handshake_duration_seconds histogram');
    expect(all).toContain('# TYPE websocket_close_handshakes_unanswered_total counter');
    expect(all).toContain('# TYPE websocket_reconnects_total counter');
    expect(all).toContain('# TYPE websocket_reconnect_delay_seconds histogram');
  });

  it('abnormal closes: exact series, and each 1006 counted once in both families', async () => {
    const registry = new Registry();
    const r = createRecorder({ registry, labels: { server: 'chat' } });
    for (let i = 0; i < 8; i++) r.recordOpen();
    const abnormal = [
      [INITIATOR_CLIENT, CAUSE_FIN],
      [INITIATOR_CLIENT, CAUSE_RESET],
      [INITIATOR_SERVER, CAUSE_TERMINATED],
      [INITIATOR_AGENT, CAUSE_TIMEOUT],
      [INITIATOR_AGENT, CAUSE_TIMEOUT],
      [7, 99], // out of range: side client, cause error
    ] as const;
    for (const [side, cause] of abnormal) r.recordAbnormalClose(side, cause, 1);
    r.recordClose(1006, INITIATOR_SERVER, 1); // a 1006 on the wire: its sender, cause error
    r.recordClose(1006, INITIATOR_UNKNOWN, 1);
    const l = await lines(registry);
    expectLines(l, [
      'websocket_abnormal_closures_total{side="client",cause="fin",server="chat"} 1',
      'websocket_abnormal_closures_total{side="client",cause="reset",server="chat"} 1',
      'websocket_abnormal_closures_total{side="server",cause="terminated",server="chat"} 1',
      'websocket_abnormal_closures_total{side="agent",cause="timeout",server="chat"} 2',
      'websocket_abnormal_closures_total{side="client",cause="error",server="chat"} 2',
      'websocket_abnormal_closures_total{side="server",cause="error",server="chat"} 1',
      'websocket_connections_closed_total{code="1006",codename="CLOSE_ABNORMAL",category="standard",initiator="agent",server="chat"} 2',
      'websocket_connections_closed_total{code="1006",codename="CLOSE_ABNORMAL",category="standard",initiator="client",server="chat"} 3',
    ]);
    const samples = parseExposition(l.join('\n'));
    expect(sumOf(samples, 'websocket_abnormal_closures_total')).toBe(8);
    expect(sumOf(samples, 'websocket_connections_closed_total', { code: '1006' })).toBe(8);
    expect(r.totals()).toEqual({ opened: 8, closed: 8, active: 0 });
  });

  it('close handshakes: duration histogram and unanswered counter by initiator', async () => {
    const registry = new Registry();
    const r = createRecorder({ registry });
    const handshakes = [
      [INITIATOR_CLIENT, 0.0005, true],
      [INITIATOR_CLIENT, 0.02, true],
      [INITIATOR_SERVER, 30, false],
      [INITIATOR_AGENT, 45, false],
    ] as const;
    for (const [initiator, seconds, answered] of handshakes) r.recordCloseHandshake(initiator, seconds, answered);
    const l = await lines(registry);
    expectLines(l, [
      'websocket_close_handshake_duration_seconds_bucket{le="0.001",initiator="client"} 1',
      'websocket_close_handshake_duration_seconds_bucket{le="0.01",initiator="client"} 1',
      'websocket_close_handshake_duration_seconds_bucket{le="0.025",initiator="client"} 2',
      'websocket_close_handshake_duration_seconds_count{initiator="client"} 2',
      'websocket_close_handshake_duration_seconds_sum{initiator="client"} 0.0205',
      'websocket_close_handshake_duration_seconds_bucket{le="30",initiator="server"} 1',
      'websocket_close_handshake_duration_seconds_bucket{le="30",initiator="agent"} 0',
      'websocket_close_handshake_duration_seconds_bucket{le="+Inf",initiator="agent"} 1',
    ]);
    expect(l.filter((x) => x.startsWith('websocket_close_handshakes_unanswered_total'))).toEqual([
      'websocket_close_handshakes_unanswered_total{initiator="server"} 1',
      'websocket_close_handshakes_unanswered_total{initiator="agent"} 1',
    ]);
    r.resetCounters();
    expect((await lines(registry)).filter((x) => x.startsWith('websocket_close_handshake'))).toEqual([]);
  });

  it('reconnects: counter and delay by previous codename', async () => {
    const registry = new Registry();
    const r = createRecorder({ registry, codes: { 4001: 'AUTH_EXPIRED' } });
    // 4555 is an unnamed code: it counts under its range's codename.
    for (const [code, seconds] of [
      [1006, 0.2],
      [1006, 3],
      [4001, 0.04],
      [4555, 100],
    ] as const)
      r.recordReconnect(r.codenameIndexOf(code), seconds);
    const l = await lines(registry);
    expect(l.filter((x) => x.startsWith('websocket_reconnects_total'))).toEqual([
      'websocket_reconnects_total{previous_codename="CLOSE_ABNORMAL"} 2',
      'websocket_reconnects_total{previous_codename="APPLICATION"} 1',
      'websocket_reconnects_total{previous_codename="AUTH_EXPIRED"} 1',
    ]);
    expectLines(l, [
      'websocket_reconnect_delay_seconds_bucket{le="0.25",previous_codename="CLOSE_ABNORMAL"} 1',
      'websocket_reconnect_delay_seconds_bucket{le="5",previous_codename="CLOSE_ABNORMAL"} 2',
      'websocket_reconnect_delay_seconds_bucket{le="0.05",previous_codename="AUTH_EXPIRED"} 1',
      'websocket_reconnect_delay_seconds_bucket{le="60",previous_codename="APPLICATION"} 0',
      'websocket_reconnect_delay_seconds_bucket{le="120",previous_codename="APPLICATION"} 1',
      'websocket_reconnect_delay_seconds_sum{previous_codename="CLOSE_ABNORMAL"} 3.2',
    ]);
  });
});

describe('keyed BLAKE2s', () => {
  it('matches Python hashlib.blake2s(key=..., digest_size=8) for short, block-sized, multi-block and non-ASCII keys', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const hasher = new KeyHasher(key);
    const inputs = ['a', '10.0.0.1', 'x'.repeat(63), 'y'.repeat(64), 'z'.repeat(65), 'é🙂'.repeat(100), 'q'.repeat(5000)];
    const script =
      'import hashlib,sys,json\nfor s in json.loads(sys.stdin.read()): print(hashlib.blake2s(s.encode(), digest_size=8, key=bytes(range(32))).hexdigest())';
    const expected = execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(inputs) })
      .toString()
      .trim()
      .split('\n');
    expect(inputs.map((s) => hasher.digest(s).toString('hex'))).toEqual(expected);
  });

  it('another process key gives other hashes; a hash is a 52-bit integer', () => {
    const a = new KeyHasher();
    const b = new KeyHasher();
    expect(a.hash('10.0.0.1')).toBe(a.hash('10.0.0.1'));
    expect(a.hash('10.0.0.1')).not.toBe(b.hash('10.0.0.1'));
    const h = a.hash('anything');
    expect(Number.isInteger(h) && h >= 0 && h < 2 ** 52).toBe(true);
  });
});

describe('ReconnectTable', () => {
  it('a key that ended within the window reconnects once, with the delay and the previous codename', () => {
    const t = new ReconnectTable({ windowMs: 1000, maxKeys: 10 }, 0);
    expect(t.opened(1, 0)).toBe(-1);
    t.ended(1, 7, 100);
    expect(t.opened(1, 350)).toBe(250);
    expect(t.previous).toBe(7);
    expect(t.opened(1, 400)).toBe(-1); // used up
    t.ended(2, 3, 500);
    expect(t.opened(2, 1501)).toBe(-1); // past the window
  });

  it('stays within maxKeys, forgetting the oldest, and drops expired entries as new ones arrive', () => {
    const t = new ReconnectTable({ windowMs: 1000, maxKeys: 3 }, 0);
    for (let k = 1; k <= 5; k++) t.ended(k, 0, k);
    expect(t.size).toBe(3);
    expect(t.opened(1, 10)).toBe(-1);
    expect(t.opened(2, 10)).toBe(-1);
    expect(t.opened(3, 10)).toBe(7);
    for (let i = 0; i < 64; i++) t.ended(100, 0, 2000 + i); // a sweep: 4 and 5 ended over 1 s ago
    expect(t.size).toBe(1);
    expect(t.opened(4, 2100)).toBe(-1);
  });

  it('a key that ends again moves to the back (the table stays in end-time order)', () => {
    const t = new ReconnectTable({ windowMs: 1000, maxKeys: 2 }, 0);
    t.ended(1, 0, 0);
    t.ended(2, 0, 1);
    t.ended(1, 5, 2);
    t.ended(3, 0, 3); // evicts 2, the oldest
    expect(t.opened(2, 4)).toBe(-1);
    expect(t.opened(1, 4)).toBe(2);
    expect(t.previous).toBe(5);
  });

  it('200,000 distinct keys through the tracker leave at most maxKeys entries', () => {
    const registry = new Registry();
    const r = createRecorder({ registry });
    const local = new LocalReconnects(r, { windowMs: 60_000, maxKeys: 1000 });
    const tracker = new ReconnectTracker(r, local);
    const t0 = Date.now();
    for (let i = 0; i < 200_000; i++) {
      const h = tracker.open(`client-${i}`, t0 + i / 1000);
      tracker.close(h, 1006, t0 + i / 1000);
    }
    expect(local.table.size).toBe(1000);
  });
});
