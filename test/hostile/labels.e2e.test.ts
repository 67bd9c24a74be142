/**
 * Labels under attack: close reasons, paths and headers built to break the
 * exposition (quotes, backslashes, newlines, braces), and 10,000 distinct
 * close codes through the proxy. /metrics must stay valid for `promtool
 * check metrics`, carry none of the peer's text, and keep its series count
 * bounded by the table and --max-custom-codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process.js';
import { closesDelta } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait.js';
import { promtoolCheckMetrics } from '../helpers/exposition.js';
import { closePayload, encodeFrame } from '../helpers/raw-client.js';
import { expectChange, expectFdsBack, expectNoCrash, expectStillServing, snapshot, startProxied, stopProxied } from './helpers/agent-health.js';
import { closeCodes, exchange, rawPeer, upgradeRequest } from './helpers/raw-peer.js';
import { startBareUpstream, startScriptedUpstream, type BareUpstream, type ScriptedUpstream } from './helpers/scripted-upstream.js';

// Peer-controlled text meant to break the text format if it ever reached a label.
const EVIL = ['"}', 'a\\"b', 'line\nbreak', '{code="1000"}', 'evil\\', '# HELP x y', '\u2028\u0000'];
const MARKER = 'EVILMARKER';
const evilReason = (i: number): string => `${MARKER}${EVIL[i % EVIL.length]}`.slice(0, 120);

/** Every series name and label value of the exposition, for "nothing of the peer's text" checks. */
function exposedText(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
}

function seriesOf(text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).length;
}

describe('labels through the proxy', () => {
  let upstream: ScriptedUpstream, agent: AgentProcess, port: number, fds: number;
  beforeAll(
    async () => ({ upstream, agent, port, fds } = await startProxied(startScriptedUpstream, ['--codes', '4001=AUTH_EXPIRED', '--half-close-timeout', '1s'])),
  );
  afterAll(() => stopProxied({ agent, upstream }));

  it('reasons, paths and headers with quotes, backslashes and newlines never reach /metrics', async () => {
    const before = await snapshot(agent);
    // Client closes with hostile reasons (raw, so even a newline or NUL goes on the wire).
    for (let i = 0; i < EVIL.length; i++) {
      const path = `/${encodeURIComponent(EVIL[i] as string)}?q=${MARKER}"}`;
      const headers = [`User-Agent: ${MARKER}"} {x="y"} \\`, `X-Forwarded-For: "${MARKER}", 1.2.3.4`, `Cookie: ${MARKER}="}\\`];
      const peer = await rawPeer(port, { path, headers });
      expect(peer.response).toMatch(/^HTTP\/1\.1 101 /);
      peer.sendClose(4000 + i, evilReason(i));
      await peer.closed;
    }
    // The upstream closes with hostile reasons.
    for (let i = 0; i < EVIL.length; i++) {
      const path = `/server-reason/${i}`;
      const peer = await rawPeer(port, { path, answerClose: true });
      (await upstream.connection(path)).ws.close(4001, evilReason(i).replace(/\0/g, ''));
      await peer.closed;
      expect(closeCodes(peer.received())).toEqual([4001]);
    }
    // A subprotocol the upstream refuses as malformed, carrying the marker.
    const refused = await exchange(port, upgradeRequest('/', { 'Sec-WebSocket-Protocol': `chat, "${MARKER}"` }));
    expect(refused.status).toBe(400);

    const closes: Record<string, number> = { '4001 AUTH_EXPIRED application server': EVIL.length };
    for (let i = 0; i < EVIL.length; i++) closes[`${4000 + i} ${4000 + i === 4001 ? 'AUTH_EXPIRED' : 'APPLICATION'} application client`] = 1;
    const after = await expectChange(agent, before, { closes, failures: { upstream_rejected: 1 }, opened: 2 * EVIL.length });
    expect(exposedText(after.text)).not.toContain(MARKER);
    expect(after.text).not.toContain('1.2.3.4');
    promtoolCheckMetrics(after.text);
    await expectFdsBack(agent, fds);
  });
});

describe('10,000 distinct close codes through the proxy', () => {
  let upstream: BareUpstream, agent: AgentProcess, port: number, fds: number;
  // The cheapest upstream: this case is about what the agent makes of the codes.
  beforeAll(
    async () => ({ upstream, agent, port, fds } = await startProxied(startBareUpstream, ['--codes', '4001=AUTH_EXPIRED', '--half-close-timeout', '1s'])),
  );
  afterAll(() => stopProxied({ agent, upstream }));

  it('every close counted once, the series bounded by the table and --max-custom-codes, /metrics valid', async () => {
    const before = await snapshot(agent);
    // All of 0-4999 but 4001 (named above), and 5000 up to 10,000 codes in all.
    const codes: number[] = [];
    for (let c = 0; codes.length < 10_000; c++) if (c !== 4001) codes.push(c);
    const count = (from: number, to: number): number => codes.filter((c) => c >= from && c <= to).length;
    const started = Date.now();
    let next = 0;
    let wrong = 0;
    const worker = async (): Promise<void> => {
      while (next < codes.length && Date.now() - started < 60_000) {
        const code = codes[next++] as number;
        // The close frame rides in the same packet as the request head.
        const ex = await exchange(port, Buffer.concat([Buffer.from(upgradeRequest(`/code/${code}`)), encodeFrame(0x8, closePayload(code, `"}\n${code}`))]));
        if (ex.status !== 101) wrong++;
      }
    };
    await Promise.all(Array.from({ length: 24 }, worker));
    expect(next).toBe(codes.length);
    expect(wrong).toBe(0);

    const MAX_CUSTOM = 100;
    let after = before;
    await waitFor(
      async () => {
        after = await snapshot(agent);
        return after.closed - before.closed >= codes.length && after.active === before.active;
      },
      `${codes.length} closes`,
      30_000,
    );
    await new Promise((r) => setTimeout(r, 50));
    after = await snapshot(agent);
    const delta = closesDelta(before.closes, after.closes);
    expect(Object.values(delta).reduce((a, b) => a + b, 0)).toBe(codes.length);
    expect(after.opened - before.opened).toBe(codes.length);
    expect(after.opened).toBe(after.closed + after.active);
    expect(closesDelta(before.failures, after.failures)).toEqual({});
    expect(closesDelta(before.violations, after.violations)).toEqual({
      'client internal_code_on_wire': count(0, 999) + 5 + count(1016, 2999), // + 1004, 1005, 1006, 1014, 1015
      'client invalid_code': count(5000, 65535),
    });
    // 1000-1015: one series each.
    for (let c = 1000; c <= 1015; c++) expect(Object.keys(delta).filter((k) => k.startsWith(`${c} `) && k.endsWith(' client'))).toHaveLength(1);
    expect(delta['0-999 UNUSED unused client']).toBe(count(0, 999));
    expect(delta['1016-1999 RESERVED reserved client']).toBe(count(1016, 1999));
    expect(delta['2000-2999 EXTENSION extension client']).toBe(count(2000, 2999));
    expect(delta['5000-65535 INVALID invalid client']).toBe(count(5000, 65535));
    // 3000-4999: exactly --max-custom-codes of them by value, the rest by range text.
    const custom = Object.keys(delta).filter((k) => /^[34]\d{3} (FRAMEWORK|APPLICATION) /.test(k));
    expect(custom).toHaveLength(MAX_CUSTOM);
    expect(custom.every((k) => delta[k] === 1)).toBe(true);
    expect((delta['3000-3999 FRAMEWORK framework client'] ?? 0) + (delta['4000-4999 APPLICATION application client'] ?? 0)).toBe(
      count(3000, 4999) - MAX_CUSTOM,
    );

    // The closed_total family: the series that counted are at most 16 codes + 6 range
    // texts + 100 custom codes; with the zero-valued ones, at most that per initiator.
    const nonZero = after.samples.filter((x) => x.name === 'websocket_connections_closed_total' && x.value > 0);
    expect(nonZero.length).toBe(Object.keys(delta).length);
    expect(nonZero.length).toBeLessThanOrEqual(16 + 6 + MAX_CUSTOM);
    expect(seriesOf(after.text, 'websocket_connections_closed_total')).toBeLessThanOrEqual((16 + 6 + MAX_CUSTOM + 1) * 4);
    expect(after.text.split('\n').length).toBeLessThan(1500);
    expect(exposedText(after.text)).not.toMatch(/\\n|\\"/); // no escaped peer text in any label
    promtoolCheckMetrics(after.text);
    await expectStillServing(agent);
    await expectFdsBack(agent, fds, 10_000);
    expectNoCrash(agent);
  }, 90_000);
});

describe('labels in echo mode (the hook)', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await startAgentProcess([]);
  });
  afterAll(() => agent?.kill());

  it('close reasons and headers with quotes and newlines from either side never reach /metrics', async () => {
    const before = await snapshot(agent);
    for (let i = 0; i < EVIL.length; i++) {
      const reason = evilReason(i).replace(/\0/g, '');
      // The client closes with the reason...
      const a = new WebSocket(`ws://${agent.listen}/${encodeURIComponent(MARKER)}"`, { headers: { 'User-Agent': `${MARKER}"}\\` } });
      await new Promise((r, j) => a.once('open', r).once('error', j));
      a.close(4000, reason);
      await new Promise((r) => a.once('close', r));
      // ...and the server closes with it ("!close CODE REASON").
      const b = new WebSocket(`ws://${agent.listen}/`);
      await new Promise((r, j) => b.once('open', r).once('error', j));
      const code = new Promise<number>((r) => b.once('close', (c: number) => r(c)));
      b.send(`!close 4002 ${reason}`);
      expect(await code).toBe(4002);
    }
    const after = await expectChange(agent, before, {
      closes: { '4000 APPLICATION application client': EVIL.length, '4002 APPLICATION application server': EVIL.length },
    });
    expect(exposedText(after.text)).not.toContain(MARKER);
    promtoolCheckMetrics(after.text);
    expectNoCrash(agent);
  });
});
