/**
 * Hostile frames against the real agent: in agent mode through the proxy in
 * front of a `ws` upstream, and in echo mode where the hook sees what `ws`
 * did. Each case asserts the close code on the wire, the exact counter
 * deltas, that the agent still serves, and that its descriptors are back to
 * their baseline (Autobahn section 7 fixes most of the cases).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process.js';
import { promtoolCheckMetrics } from '../helpers/exposition.js';
import { closesDelta } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait.js';
import { closePayload, encodeFrame } from '../helpers/raw-client.js';
import { expectChange, expectFdsBack, expectNoCrash, expectStillServing, fdBaseline, portOf, snapshot, type Change } from './helpers/agent-health.js';
import { closeCodes, parseFrames, rawPeer, type RawPeer } from './helpers/raw-peer.js';
import { startScriptedUpstream, type ScriptedUpstream } from './helpers/scripted-upstream.js';

const OPCODE_TEXT = 0x1;
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;

const close = (code: number, reason: string | Buffer = ''): Buffer => encodeFrame(OPCODE_CLOSE, closePayload(code, reason));
const closeWithReasonOf = (code: number, reasonBytes: number): Buffer => close(code, 'r'.repeat(reasonBytes));

interface Outcome extends Change {
  /** Close codes the client receives, in order. */
  wire: number[];
}

interface FrameCase {
  name: string;
  /** Written in one write each, in order. */
  writes: Buffer[];
  agent: Outcome;
  echo: Outcome;
}

const client = (series: string): Record<string, number> => ({ [`${series} client`]: 1 });
const server = (series: string): Record<string, number> => ({ [`${series} server`]: 1 });
const violation = (kind: string): Record<string, number> => ({ [`client ${kind}`]: 1 });

// ws answers every frame it rejects with 1002, except where noted.
const PROTOCOL_ERROR = '1002 CLOSE_PROTOCOL_ERROR standard';

// prettier-ignore
const INVALID_CODES: [number, string, string][] = [
  // Autobahn 7.9.x, then 1014, 1015 and codes of 5000 and up.
  [0,     '0-999 UNUSED unused',              'internal_code_on_wire'],
  [999,   '0-999 UNUSED unused',              'internal_code_on_wire'],
  [1004,  '1004 UNUSED standard',             'internal_code_on_wire'],
  [1005,  '1005 CLOSED_NO_STATUS standard',   'internal_code_on_wire'],
  [1006,  '1006 CLOSE_ABNORMAL standard',     'internal_code_on_wire'],
  [1016,  '1016-1999 RESERVED reserved',      'internal_code_on_wire'],
  [1100,  '1016-1999 RESERVED reserved',      'internal_code_on_wire'],
  [2000,  '2000-2999 EXTENSION extension',    'internal_code_on_wire'],
  [2999,  '2000-2999 EXTENSION extension',    'internal_code_on_wire'],
  [1015,  '1015 TLS_HANDSHAKE_FAIL standard', 'internal_code_on_wire'],
  [5000,  '5000-65535 INVALID invalid',       'invalid_code'],
  [65535, '5000-65535 INVALID invalid',       'invalid_code'],
];

const FLOOD_FRAMES = 20_000;

// prettier-ignore
const CASES: FrameCase[] = [
  {
    name: 'empty close frame',
    writes: [encodeFrame(OPCODE_CLOSE)],
    agent: { wire: [1005], closes: client('1005 CLOSED_NO_STATUS standard') },
    echo:  { wire: [1005], closes: client('1005 CLOSED_NO_STATUS standard') },
  },
  {
    name: '1-byte close payload',
    writes: [encodeFrame(OPCODE_CLOSE, Buffer.from([0x03]))],
    agent: { wire: [1002], closes: client('1005 CLOSED_NO_STATUS standard'), violations: violation('short_close_payload') },
    echo:  { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('short_close_payload') },
  },
  {
    name: 'close frame with a 126-byte payload',
    writes: [closeWithReasonOf(1000, 124)],
    agent: { wire: [1002], closes: client('1000 CLOSE_NORMAL standard'), violations: violation('oversized_control_frame') },
    echo:  { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('oversized_control_frame') },
  },
  {
    name: 'ping with a 126-byte payload',
    writes: [encodeFrame(OPCODE_PING, Buffer.alloc(126, 0x70))],
    agent: { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('oversized_control_frame') },
    echo:  { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('oversized_control_frame') },
  },
  {
    name: 'close frame declaring a 2^63-byte payload',
    writes: [encodeFrame(OPCODE_CLOSE, Buffer.alloc(0), { declaredLength: 2n ** 63n })],
    // The scanner cannot find frame boundaries past it and stops reading that direction.
    agent: { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('invalid_frame_length') },
    echo:  { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('oversized_control_frame') },
  },
  {
    name: 'binary frame declaring a 2^63-byte payload',
    writes: [encodeFrame(OPCODE_BINARY, Buffer.from('abc'), { declaredLength: 2n ** 63n })],
    agent: { wire: [1009], closes: server('1009 CLOSE_TOO_LARGE standard'), violations: violation('invalid_frame_length') },
    echo:  { wire: [1009], closes: server('1009 CLOSE_TOO_LARGE standard'), violations: violation('invalid_frame_length') },
  },
  {
    name: 'fragmented close frame (FIN clear)',
    writes: [encodeFrame(OPCODE_CLOSE, closePayload(1000), { fin: false })],
    agent: { wire: [1002], closes: client('1000 CLOSE_NORMAL standard'), violations: violation('fragmented_control_frame') },
    echo:  { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('fragmented_control_frame') },
  },
  {
    name: 'close reason of 123 bytes (the largest legal one)',
    writes: [closeWithReasonOf(4000, 123)],
    agent: { wire: [4000], closes: client('4000 APPLICATION application') },
    echo:  { wire: [4000], closes: client('4000 APPLICATION application') },
  },
  {
    name: 'close reason of 124 bytes',
    writes: [closeWithReasonOf(4000, 124)],
    agent: { wire: [1002], closes: client('4000 APPLICATION application'), violations: violation('oversized_control_frame') },
    echo:  { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('oversized_control_frame') },
  },
  {
    name: 'close reason that is not UTF-8',
    writes: [close(1000, Buffer.from([0x62, 0xff, 0xfe, 0x79, 0x65]))],
    agent: { wire: [1007], closes: client('1000 CLOSE_NORMAL standard'), violations: violation('invalid_utf8_reason') },
    echo:  { wire: [1007], closes: server('1007 UNSUPPORTED_DATA standard'), violations: violation('invalid_utf8_reason') },
  },
  ...INVALID_CODES.map(([code, series, kind]): FrameCase => ({
    name: `close code ${code}`,
    writes: [close(code)],
    agent: { wire: [1002], closes: client(series), violations: violation(kind) },
    echo:  { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation(kind) },
  })),
  {
    name: 'close code 1014 (ws accepts it)',
    writes: [close(1014)],
    // The ws upstream echoes it, so the agent sees it from both sides.
    agent: { wire: [1014], closes: client('1014 UNUSED standard'), violations: { 'client internal_code_on_wire': 1, 'server internal_code_on_wire': 1 } },
    echo:  { wire: [1014], closes: client('1014 UNUSED standard'), violations: violation('internal_code_on_wire') },
  },
  {
    name: 'close frame split into 1-byte TCP writes',
    writes: [...close(4100, 'split')].map((b) => Buffer.from([b])),
    agent: { wire: [4100], closes: client('4100 APPLICATION application') },
    echo:  { wire: [4100], closes: client('4100 APPLICATION application') },
  },
  {
    name: 'data after a close frame',
    writes: [Buffer.concat([close(1000), encodeFrame(OPCODE_TEXT, Buffer.from('late'))])],
    // ws stops reading after a close frame, so the hook never sees the late frame.
    agent: { wire: [1000], closes: client('1000 CLOSE_NORMAL standard'), violations: violation('data_after_close') },
    echo:  { wire: [1000], closes: client('1000 CLOSE_NORMAL standard') },
  },
  {
    name: 'two close frames from the client',
    writes: [Buffer.concat([close(4000), close(4001)])],
    agent: { wire: [4000], closes: client('4000 APPLICATION application'), violations: violation('data_after_close') },
    echo:  { wire: [4000], closes: client('4000 APPLICATION application') },
  },
  ...[1, 2, 4].map((rsv): FrameCase => ({
    name: `close frame with RSV bits ${rsv.toString(2).padStart(3, '0')}`,
    writes: [encodeFrame(OPCODE_CLOSE, closePayload(1000), { rsv })],
    agent: { wire: [1002], closes: client('1000 CLOSE_NORMAL standard'), violations: violation('unexpected_rsv') },
    echo:  { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('unexpected_rsv') },
  })),
  {
    name: 'unmasked client frame',
    writes: [encodeFrame(OPCODE_TEXT, Buffer.from('hi'), { mask: false })],
    agent: { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('bad_masking') },
    echo:  { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('bad_masking') },
  },
  {
    name: 'reserved opcode 0x3',
    writes: [encodeFrame(0x3, Buffer.from('?'))],
    agent: { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('invalid_opcode') },
    echo:  { wire: [1002], closes: server(PROTOCOL_ERROR), violations: violation('invalid_opcode') },
  },
  {
    name: `a flood of ${FLOOD_FRAMES} 1-byte frames, then a close`,
    writes: [Buffer.concat([...Array.from({ length: FLOOD_FRAMES }, () => encodeFrame(OPCODE_TEXT, Buffer.from('x'))), close(1000)])],
    agent: { wire: [1000], closes: client('1000 CLOSE_NORMAL standard') },
    echo:  { wire: [1000], closes: client('1000 CLOSE_NORMAL standard') },
  },
];

/** Run one case on a fresh raw connection and check everything it changed. */
async function runCase(agent: AgentProcess, fds: number, c: FrameCase, expected: Outcome, path = '/'): Promise<RawPeer> {
  const before = await snapshot(agent);
  const peer = await rawPeer(portOf(agent.listen), { path });
  expect(peer.response).toMatch(/^HTTP\/1\.1 101 /);
  for (const w of c.writes) {
    peer.socket.write(w);
    if (c.writes.length > 1) await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.race([peer.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the connection did not end')), 5000))]);
  expect(closeCodes(peer.received()), 'close codes on the wire').toEqual(expected.wire);
  const { wire: _wire, ...change } = expected;
  await expectChange(agent, before, change);
  await expectStillServing(agent);
  await expectFdsBack(agent, fds);
  return peer;
}

describe('hostile frames through the proxy in front of a ws upstream', () => {
  let upstream: ScriptedUpstream;
  let agent: AgentProcess;
  let fds: number;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    agent = await startAgentProcess(['--upstream', upstream.url, '--half-close-timeout', '1s']);
    fds = await fdBaseline(agent);
  });
  afterAll(async () => {
    agent?.kill();
    await upstream?.close();
  });

  for (const c of CASES) {
    it(`${c.name}: ${c.agent.wire.join(',')} on the wire, ${Object.keys(c.agent.closes).join(', ')}`, async () => {
      const peer = await runCase(agent, fds, c, c.agent);
      if (c.name.startsWith('a flood')) {
        const echoed = parseFrames(peer.received()).filter((f) => f.opcode === OPCODE_TEXT);
        expect(echoed.length).toBe(FLOOD_FRAMES);
      }
    });
  }

  it('simultaneous closes: the upstream closes at the 101 while the client closes unread: the first on the agent counts once', async () => {
    const before = await snapshot(agent);
    const peer = await rawPeer(portOf(agent.listen), { path: '/close-on-open/4001' });
    peer.sendClose(4000);
    await peer.closed;
    expect(closeCodes(peer.received())).toEqual([4001]);
    // The upstream's close reached the agent with the 101, before the client could send.
    await expectChange(agent, before, { closes: server('4001 APPLICATION application') });
    expect((await upstream.connection('/close-on-open/4001')).closeCode).toBe(4000);
  });

  it('simultaneous closes from both sides in the same tick: exactly one close, whichever the agent saw first', async () => {
    for (let i = 0; i < 5; i++) {
      const before = await snapshot(agent);
      const path = `/simultaneous/${i}`;
      const peer = await rawPeer(portOf(agent.listen), { path });
      const up = await upstream.connection(path);
      up.ws.close(4001);
      peer.sendClose(4000);
      await peer.closed;
      await waitFor(async () => (await snapshot(agent)).closed === before.closed + 1, 'one close');
      await new Promise((r) => setTimeout(r, 20));
      const final = await snapshot(agent);
      const delta = closesDelta(before.closes, final.closes);
      expect(Object.values(delta)).toEqual([1]);
      const series = Object.keys(delta)[0] as string;
      expect(['4000 APPLICATION application client', '4001 APPLICATION application server']).toContain(series);
      expect(closesDelta(before.violations, final.violations)).toEqual({});
      expect(final.opened).toBe(final.closed + final.active);
    }
    await expectFdsBack(agent, fds);
  });

  it('after every case: a valid exposition, no crash, nothing logged per connection', async () => {
    promtoolCheckMetrics((await snapshot(agent)).text);
    expectNoCrash(agent);
    expect(agent.logs().filter((l) => l.level !== 'info' && l.level !== 'debug')).toEqual([]);
  });
});

describe('hostile frames against the echo endpoint (hook mode)', () => {
  let agent: AgentProcess;
  let fds: number;

  beforeAll(async () => {
    agent = await startAgentProcess([]);
    fds = await fdBaseline(agent);
  });
  afterAll(() => agent?.kill());

  for (const c of CASES) {
    it(`${c.name}: ${c.echo.wire.join(',')} on the wire, ${Object.keys(c.echo.closes).join(', ')}`, async () => {
      const peer = await runCase(agent, fds, c, c.echo);
      if (c.name.startsWith('a flood')) {
        expect(parseFrames(peer.received()).filter((f) => f.opcode === OPCODE_TEXT).length).toBe(FLOOD_FRAMES);
      }
    });
  }

  it('simultaneous closes: the server closes on a message while the client close is in flight: the first counts once', async () => {
    const before = await snapshot(agent);
    const peer = await rawPeer(portOf(agent.listen));
    peer.socket.write(Buffer.concat([encodeFrame(OPCODE_TEXT, Buffer.from('!close 4001')), close(4000)]));
    await peer.closed;
    expect(closeCodes(peer.received())).toEqual([4001]);
    await expectChange(agent, before, { closes: server('4001 APPLICATION application') });
    await expectFdsBack(agent, fds);
  });

  it('after every case: a valid exposition, no hook error and no crash in the host process', async () => {
    promtoolCheckMetrics((await snapshot(agent)).text);
    expectNoCrash(agent);
    expect(agent.logs().filter((l) => l.level !== 'info' && l.level !== 'debug')).toEqual([]);
  });
});
