/**
 * A property-based model test against the real agent: fast-check draws
 * random interleavings of opens, client and server closes with random codes
 * (valid ones through `ws`, any 16-bit value through a raw client),
 * terminations, transport resets, messages and scrapes. After each run,
 * /metrics must equal what a small model of the same events predicts, and
 * every scrape on the way must be consistent with it.
 *
 * The model is written from the SPEC, independently of src/: a label table
 * for the codes, the codes a close frame may carry, and which codes the `ws`
 * upstream echoes.
 */
import fc from 'fast-check';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process.js';
import { closePayload, encodeFrame } from '../helpers/raw-client.js';
import { sumOf } from '../helpers/exposition.js';
import { closesDelta } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait.js';
import { expectFdsBack, expectNoCrash, expectStillServing, fdBaseline, portOf, snapshot, type Snapshot } from './helpers/agent-health.js';
import { closeCodes, rawPeer, type RawPeer } from './helpers/raw-peer.js';
import { startScriptedUpstream, type ScriptedUpstream } from './helpers/scripted-upstream.js';
import { assertAsyncProperty } from '../helpers/property.js';

// ---------------------------------------------------------------------------
// The model

// prettier-ignore
const STANDARD: Record<number, string> = {
  1000: 'CLOSE_NORMAL', 1001: 'CLOSE_GOING_AWAY', 1002: 'CLOSE_PROTOCOL_ERROR', 1003: 'CLOSE_UNSUPPORTED',
  1004: 'UNUSED', 1005: 'CLOSED_NO_STATUS', 1006: 'CLOSE_ABNORMAL', 1007: 'UNSUPPORTED_DATA',
  1008: 'POLICY_VIOLATION', 1009: 'CLOSE_TOO_LARGE', 1010: 'MISSING_EXTENSION', 1011: 'INTERNAL_ERROR',
  1012: 'SERVICE_RESTART', 1013: 'TRY_AGAIN_LATER', 1014: 'UNUSED', 1015: 'TLS_HANDSHAKE_FAIL',
};

/** "code codename category" of a code, with every 3000-4999 code labelled by value (--max-custom-codes 2000). */
function series(code: number): string {
  if (code >= 1000 && code <= 1015) return `${code} ${STANDARD[code]} standard`;
  if (code >= 3000 && code <= 3999) return `${code} FRAMEWORK framework`;
  if (code >= 4000 && code <= 4999) return `${code} APPLICATION application`;
  if (code < 1000) return '0-999 UNUSED unused';
  if (code < 2000) return '1016-1999 RESERVED reserved';
  if (code < 3000) return '2000-2999 EXTENSION extension';
  return '5000-65535 INVALID invalid';
}

/** The violation a code in a close frame is (RFC 6455 §7.4), or undefined. */
function wireViolation(code: number): string | undefined {
  if ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1013) || (code >= 3000 && code <= 4999)) return undefined;
  return code < 5000 ? 'internal_code_on_wire' : 'invalid_code';
}

/** Codes `ws` accepts in a close frame (and echoes); it answers the others with 1002. */
function wsAccepts(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

type Kind = 'ws' | 'raw';

interface Model {
  /** Open connections by id. */
  open: Map<number, Kind>;
  opened: number;
  closes: Record<string, number>;
  violations: Record<string, number>;
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

// ---------------------------------------------------------------------------
// The real system

interface Conn {
  kind: Kind;
  path: string;
  ws?: WebSocket;
  raw?: RawPeer;
}

interface Real {
  agent: AgentProcess;
  upstream: ScriptedUpstream;
  run: number;
  nextId: number;
  conns: Map<number, Conn>;
  base: Snapshot;
}

const STEP_MS = 5000;

function bounded<T>(p: Promise<T>, what: string, ms = STEP_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]);
}

function clientSocket(conn: Conn): Socket {
  return conn.kind === 'ws' ? (conn.ws as unknown as { _socket: Socket })._socket : (conn.raw as RawPeer).socket;
}

/** The open connection of `kind` (any kind when undefined) picked by `index`, or undefined. */
function pick(m: Model, index: number, kind?: Kind): number | undefined {
  const ids = [...m.open.entries()].filter(([, k]) => kind === undefined || k === kind).map(([id]) => id);
  return ids.length === 0 ? undefined : ids[index % ids.length];
}

/** The open connection `index` picks (of `kind`, when given): taken out of the model, with its real side. */
function take(m: Model, r: Real, index: number, kind?: Kind): Conn {
  const id = pick(m, index, kind) as number;
  m.open.delete(id);
  return r.conns.get(id)!;
}

type Cmd = fc.AsyncCommand<Model, Real>;

/** A command on an open connection: `index` picks it (of kind `needs`, when set), `arg` says what to do with it. */
abstract class OnConnection<A> implements Cmd {
  protected readonly needs: Kind | undefined = undefined;
  constructor(
    readonly index: number,
    readonly arg: A,
  ) {}
  check = (m: Model): boolean => pick(m, this.index, this.needs) !== undefined;
  abstract run(m: Model, r: Real): Promise<void>;
}

class Open implements Cmd {
  constructor(readonly kind: Kind) {}
  check = (m: Model): boolean => m.open.size < 8;
  async run(m: Model, r: Real): Promise<void> {
    const id = r.nextId++;
    const path = `/model/${r.run}/${id}`;
    const conn: Conn = { kind: this.kind, path };
    if (this.kind === 'ws') {
      const ws = new WebSocket(`ws://${r.agent.listen}${path}`);
      ws.on('error', () => undefined);
      await bounded(new Promise((res, rej) => ws.once('open', res).once('unexpected-response', rej)), `open ${path}`);
      conn.ws = ws;
    } else {
      conn.raw = await rawPeer(portOf(r.agent.listen), { path });
      expect(conn.raw.response).toMatch(/^HTTP\/1\.1 101 /);
    }
    r.conns.set(id, conn);
    m.open.set(id, this.kind);
    m.opened++;
  }
  toString = (): string => `open(${this.kind})`;
}

/** A message on a ws connection; `arg`: wait for its echo. */
class Send extends OnConnection<boolean> {
  protected override readonly needs = 'ws';
  override async run(m: Model, r: Real): Promise<void> {
    const ws = r.conns.get(pick(m, this.index, 'ws') as number)!.ws as WebSocket;
    const echoed = new Promise((res) => ws.once('message', res));
    ws.send(Buffer.alloc(1024 + this.index * 97, 0x6d));
    if (this.arg) await bounded(echoed, 'echo');
  }
  override toString = (): string => `send(${this.index}${this.arg ? ', await echo' : ''})`;
}

/** A ws client closes; `arg`: its code (none when undefined). */
class ClientClose extends OnConnection<number | undefined> {
  protected override readonly needs = 'ws';
  // eslint-disable-next-line @typescript-eslint/require-await -- fast-check's AsyncCommand.run returns a promise
  override async run(m: Model, r: Real): Promise<void> {
    take(m, r, this.index, 'ws').ws!.close(this.arg);
    const code = this.arg ?? 1005;
    bump(m.closes, `${series(code)} client`);
    // The upstream echoes the code: 1014 is accepted by ws, yet must not be on the wire.
    if (code === 1014) {
      bump(m.violations, 'client internal_code_on_wire');
      bump(m.violations, 'server internal_code_on_wire');
    }
  }
  override toString = (): string => `clientClose(${this.index}, ${this.arg ?? 'no code'})`;
}

type RawClose = number | 'empty' | 'short';

/** A raw client sends a close frame; `arg`: its code, or an empty or one-byte payload. */
class RawClientClose extends OnConnection<RawClose> {
  protected override readonly needs = 'raw';
  // eslint-disable-next-line @typescript-eslint/require-await -- fast-check's AsyncCommand.run returns a promise
  override async run(m: Model, r: Real): Promise<void> {
    const peer = take(m, r, this.index, 'raw').raw as RawPeer;
    if (this.arg === 'empty') {
      peer.send(0x8);
      bump(m.closes, '1005 CLOSED_NO_STATUS standard client');
      return;
    }
    if (this.arg === 'short') {
      peer.send(0x8, Buffer.from([0x03]));
      bump(m.closes, '1005 CLOSED_NO_STATUS standard client');
      bump(m.violations, 'client short_close_payload');
      return;
    }
    peer.sendClose(this.arg, 'model');
    bump(m.closes, `${series(this.arg)} client`);
    const violation = wireViolation(this.arg);
    if (violation) bump(m.violations, `client ${violation}`);
    if (wsAccepts(this.arg) && violation) bump(m.violations, `server ${violation}`); // echoed back (1014)
  }
  override toString = (): string => `rawClientClose(${this.index}, ${this.arg})`;
}

/** The upstream closes; `arg`: its code. */
class ServerClose extends OnConnection<number> {
  override async run(m: Model, r: Real): Promise<void> {
    const conn = take(m, r, this.index);
    bump(m.closes, `${series(this.arg)} server`);
    (await r.upstream.connection(conn.path)).ws.close(this.arg);
    if (conn.kind === 'raw') {
      // A raw client answers like a well-behaved one: the same code, then FIN.
      const peer = conn.raw as RawPeer;
      await bounded(
        waitFor(() => closeCodes(peer.received()).length > 0, 'the server close at the raw client'),
        'server close',
      );
      peer.socket.end(encodeFrame(0x8, closePayload(this.arg)));
    }
  }
  override toString = (): string => `serverClose(${this.index}, ${this.arg})`;
}

type Drop = 'client-fin' | 'client-rst' | 'server-fin' | 'server-rst';

/** One side's TCP connection ends without a close frame; `arg`: which side, and FIN or RST. */
class TransportDrop extends OnConnection<Drop> {
  override async run(m: Model, r: Real): Promise<void> {
    const conn = take(m, r, this.index);
    bump(m.closes, `1006 CLOSE_ABNORMAL standard ${this.arg.startsWith('client') ? 'client' : 'server'}`);
    if (this.arg === 'client-fin') {
      if (conn.ws) conn.ws.terminate();
      else clientSocket(conn).destroy();
    } else if (this.arg === 'client-rst') {
      clientSocket(conn).resetAndDestroy();
    } else {
      const up = await r.upstream.connection(conn.path);
      if (this.arg === 'server-fin') up.ws.terminate();
      else (up.ws as unknown as { _socket: Socket })._socket.resetAndDestroy();
    }
  }
  override toString = (): string => `drop(${this.index}, ${this.arg})`;
}

/** Every 1006 in _closed_total is counted exactly once in _abnormal_closures_total (by side and cause), at every scrape. */
function expectAbnormalOnce(s: Snapshot): void {
  expect(sumOf(s.samples, 'websocket_abnormal_closures_total')).toBe(sumOf(s.samples, 'websocket_connections_closed_total', { code: '1006' }));
}

class Scrape implements Cmd {
  check = (): boolean => true;
  async run(m: Model, r: Real): Promise<void> {
    const s = await snapshot(r.agent);
    expect(s.opened).toBe(s.closed + s.active);
    expectAbnormalOnce(s);
    // Opens are counted before the client sees its 101; closes may still be on their way.
    expect(s.opened - r.base.opened).toBe(m.opened);
    for (const [k, v] of Object.entries(closesDelta(r.base.closes, s.closes))) expect(v, k).toBeLessThanOrEqual(m.closes[k] ?? 0);
    for (const [k, v] of Object.entries(closesDelta(r.base.violations, s.violations))) expect(v, k).toBeLessThanOrEqual(m.violations[k] ?? 0);
    expect(s.active - r.base.active).toBeGreaterThanOrEqual(m.open.size);
  }
  toString = (): string => 'scrape';
}

// ---------------------------------------------------------------------------
// Arbitraries

const index = fc.nat({ max: 7 });
const wsCode = fc.oneof(fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014), fc.integer({ min: 3000, max: 4999 }));
const serverCode = fc.oneof(fc.constantFrom(1000, 1001, 1008, 1011, 1012, 1013), fc.integer({ min: 3000, max: 4999 }));
const rawCode: fc.Arbitrary<RawClose> = fc.oneof(
  fc.integer({ min: 0, max: 65535 }),
  fc.constantFrom(0, 999, 1000, 1004, 1005, 1006, 1014, 1015, 1016, 2999, 3000, 4999, 5000, 65535),
  fc.constantFrom<RawClose>('empty', 'short'),
);

const INITIAL = fc.array(fc.constantFrom<Kind>('ws', 'raw'), { minLength: 1, maxLength: 4 });

const COMMANDS: fc.Arbitrary<Cmd>[] = [
  fc.constantFrom<Kind>('ws', 'raw').map((k) => new Open(k)),
  fc.constantFrom<Kind>('ws', 'raw').map((k) => new Open(k)), // opens twice as likely, so there is something to close
  fc.tuple(index, fc.boolean()).map(([i, w]) => new Send(i, w)),
  fc.tuple(index, fc.option(wsCode, { nil: undefined })).map(([i, c]) => new ClientClose(i, c)),
  fc.tuple(index, rawCode).map(([i, c]) => new RawClientClose(i, c)),
  fc.tuple(index, serverCode).map(([i, c]) => new ServerClose(i, c)),
  fc.tuple(index, fc.constantFrom<Drop>('client-fin', 'client-rst', 'server-fin', 'server-rst')).map(([i, h]) => new TransportDrop(i, h)),
  fc.constant(new Scrape()),
];

// ---------------------------------------------------------------------------

describe('model: random interleavings against the real agent', () => {
  let upstream: ScriptedUpstream;
  let agent: AgentProcess;
  let fds: number;
  let runs = 0;

  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    // Every 3000-4999 code gets its own label, so the model's labels do not depend on history.
    agent = await startAgentProcess(['--upstream', upstream.url, '--max-custom-codes', '2000', '--half-close-timeout', '500ms']);
    fds = await fdBaseline(agent);
  });
  afterAll(async () => {
    agent?.kill();
    await upstream?.close();
  });

  it('after every run, the metrics equal the model', async () => {
    const started = Date.now();
    await assertAsyncProperty(
      fc.asyncProperty(INITIAL, fc.commands(COMMANDS, { maxCommands: 20 }), async (initial, cmds) => {
        const base = await snapshot(agent);
        const model: Model = { open: new Map(), opened: 0, closes: {}, violations: {} };
        const real: Real = { agent, upstream, run: runs++, nextId: 0, conns: new Map(), base };
        // Start with a few connections open, so that the commands find something to act on.
        for (const kind of initial) await new Open(kind).run(model, real);
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        // End the run: the client closes whatever is still open with 1000.
        for (const [id, kind] of model.open) {
          const conn = real.conns.get(id)!;
          if (kind === 'ws') conn.ws!.close(1000);
          else conn.raw!.sendClose(1000);
          bump(model.closes, '1000 CLOSE_NORMAL standard client');
        }
        model.open.clear();
        const total = Object.values(model.closes).reduce((a, b) => a + b, 0);
        let after = base;
        await waitFor(
          async () => {
            after = await snapshot(agent);
            return after.closed - base.closed >= total && after.active === base.active;
          },
          `${total} closes of the run`,
          STEP_MS,
        ).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 20));
        after = await snapshot(agent);
        expectAbnormalOnce(after);
        expect({
          opened: after.opened - base.opened,
          active: after.active - base.active,
          closes: closesDelta(base.closes, after.closes),
          violations: closesDelta(base.violations, after.violations),
          failures: closesDelta(base.failures, after.failures),
        }).toEqual({ opened: model.opened, active: 0, closes: model.closes, violations: model.violations, failures: {} });
      }),
      { numRuns: 20, interruptAfterTimeLimit: 40_000, markInterruptAsFailure: false, endOnFailure: true },
    );
    expect(runs).toBeGreaterThanOrEqual(5);
    expect(Date.now() - started).toBeLessThan(60_000);
    await expectStillServing(agent);
    await expectFdsBack(agent, fds);
    expectNoCrash(agent);
    expect(agent.logs().filter((l) => l.level === 'error')).toEqual([]);
  }, 90_000);
});
