/**
 * Case 8: FrameScanner over in-memory client->server traffic (mostly small
 * masked text frames, some pings, fragmented messages and large binary
 * frames), split into 1,448-byte chunks as TCP would deliver
 * it. The baseline touches the same chunks in a plain loop, so the ratio is
 * the scanner's own cost. Timed in process CPU time.
 *
 * A pass is 2,000 frames (2.2 MiB, of which the scanner reads about 2,000
 * cache lines of headers), scanned 250 times per sample. In the proxy the
 * scanner reads each chunk just after the kernel copied it in, so from
 * cache. A pass of 20,000 frames (18.6 MiB) made every header read a
 * last-level-cache or DRAM access instead, so the case measured memory
 * latency and the neighbours' cache use more than the scanner: a bare
 * header walk (no checks, one call over the whole pass) cost 15-24 ns per
 * frame there, up to 75 on a busy machine, against 6.3-7 ns over 2.2 MiB.
 */
import { FrameScanner } from '../../dist/esm/agent/frame-scanner.js';
import { encodeFrame } from '../../harness/frames.mjs';
import { compareRow } from '../lib/rows.mjs';
import { readOwnCpuNs } from '../../harness/proc.mjs';
import { runInterleaved } from '../lib/rounds.mjs';

export const id = 8;
export const title = 'frame scanner throughput';

const CHUNK = 1448; // a TCP segment's payload at a 1,500-byte MTU
const FRAMES = 2_000; // per pass: see above

/** The traffic as one buffer, and its frame count. */
function buildTraffic() {
  let seed = 99;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const parts = [];
  let frames = 0;
  const push = (fin, opcode, length) => {
    const mask = Buffer.from([rand() * 256, rand() * 256, rand() * 256, rand() * 256].map((x) => x & 0xff));
    const payload = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) payload[i] = 0x61 + (i % 26);
    parts.push(encodeFrame(opcode, payload, { fin, mask }));
    frames++;
  };
  while (frames < FRAMES) {
    const r = rand();
    if (r < 0.9)
      push(true, 0x1, 20 + Math.floor(rand() * 280)); // chat-sized text
    else if (r < 0.95)
      push(true, 0x9, Math.floor(rand() * 8)); // ping
    else if (r < 0.98) {
      push(false, 0x1, 100 + Math.floor(rand() * 400)); // a fragmented text message
      push(true, 0x0, 100 + Math.floor(rand() * 400));
    } else push(true, 0x2, rand() < 0.8 ? 8192 + Math.floor(rand() * 57_000) : 70_000 + Math.floor(rand() * 130_000)); // binary, 16- and 64-bit lengths
  }
  // No close frame: the same traffic is scanned pass after pass, and frames after a close are a violation.
  return { traffic: Buffer.concat(parts), frames };
}

export async function run(ctx) {
  const s = ctx.quick ? { rounds: 7, passes: 100 } : { rounds: 21, passes: 250 };
  const { traffic, frames } = buildTraffic();
  const chunks = [];
  for (let at = 0; at < traffic.length; at += CHUNK) chunks.push(traffic.subarray(at, Math.min(at + CHUNK, traffic.length)));
  let closes = 0;
  let violations = 0;
  const handler = { onCloseFrame: () => void closes++, onViolation: () => void violations++ };

  const scan = () => {
    const scanner = new FrameScanner(handler, { masked: true });
    const t0 = readOwnCpuNs();
    for (let p = 0; p < s.passes; p++) {
      // A new scanner per pass would measure allocation; the traffic ends at a frame boundary, so one scanner reads it again.
      for (let i = 0; i < chunks.length; i++) scanner.push(chunks[i]);
    }
    const ns = readOwnCpuNs() - t0;
    if (scanner.frames !== frames * s.passes) throw new Error(`scanner saw ${scanner.frames} frames, expected ${frames * s.passes}`);
    return ns / (frames * s.passes);
  };
  let sink = 0;
  const touchPasses = s.passes * 2; // the loop is ~2-3x faster: keep its samples about as long as the scanner's
  const touch = () => {
    const t0 = readOwnCpuNs();
    for (let p = 0; p < touchPasses; p++) {
      for (let i = 0; i < chunks.length; i++) {
        const c = chunks[i];
        sink = (sink + c[0] + c[c.length - 1] + c.length) | 0;
      }
    }
    return (readOwnCpuNs() - t0) / (frames * touchPasses);
  };
  for (let w = 0; w < 3; w++) {
    scan();
    touch();
  }
  const { samples } = await runInterleaved(
    [
      { name: 'scanner', run: async () => scan() },
      { name: 'loop', run: async () => touch() },
    ],
    { rounds: s.rounds, deadline: ctx.deadline },
  );
  return [
    compareRow({
      caseId: id,
      name: 'scanner: ns per frame over 1,448-byte chunks',
      unit: 'ns',
      oursLabel: 'scanner',
      baselineLabel: 'plain loop',
      ours: samples.scanner,
      baseline: samples.loop,
      target: '≤ 10 ns',
      check: ({ ours }) => ours <= 10,
      note: `${frames.toLocaleString('en-US')} frames, ${(traffic.length / 2 ** 20).toFixed(1)} MiB, ${chunks.length.toLocaleString('en-US')} chunks per pass (${(chunks.length / frames).toFixed(2)} chunks/frame); violations seen ${violations} (want 0), sink ${sink & 1}`,
    }),
  ];
}
