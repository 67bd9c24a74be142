/**
 * Watch a spawned agent command (`node ... dist/esm/agent/main.js ...`, its
 * stdout and stderr piped): keep its log lines, wait for its "listening"
 * line, and let callers wait for a stderr line (the heap probes answer
 * there). Shared by bench/ and soak/, which spawn the agent differently.
 */
import { createInterface } from 'node:readline';
import { withTimeout } from './child-ipc.mjs';

/**
 * Resolves once the agent logged "listening", with { rec, lines, stderrLines,
 * exited, logs(), waitForStderrLine() }; rejects with its output if it exits
 * first or does not listen within readyTimeoutMs.
 */
export async function watchAgent(proc, { readyTimeoutMs = 15_000, keepStderrLines = Infinity } = {}) {
  const lines = [];
  const stderrLines = [];
  const stderrListeners = new Set();
  createInterface({ input: proc.stderr }).on('line', (line) => {
    stderrLines.push(line);
    if (stderrLines.length > keepStderrLines) stderrLines.shift();
    for (const l of stderrListeners) l(line);
  });
  // 'close', not 'exit': by then every line has been read.
  const exited = new Promise((resolve) => proc.once('close', (code, signal) => resolve({ code, signal })));
  const listening = new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout });
    rl.on('line', (line) => lines.push(line));
    const onLine = (line) => {
      try {
        const rec = JSON.parse(line);
        if (rec.msg !== 'listening') return;
        rl.removeListener('line', onLine);
        resolve(rec);
      } catch {
        // not a log line
      }
    };
    rl.on('line', onLine);
    void exited.then(({ code, signal }) =>
      reject(new Error(`agent exited (${code ?? signal}) before listening (is dist/ built? npm run build)\n${lines.join('\n')}\n${stderrLines.join('\n')}`)),
    );
  });
  const rec = await withTimeout(listening, readyTimeoutMs, 'agent start');
  return {
    rec,
    lines,
    stderrLines,
    exited,
    /** The JSON log records on stdout so far. */
    logs() {
      return lines.flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return [];
        }
      });
    },
    /** Resolves with the first stderr line `match` maps to a value other than undefined. */
    waitForStderrLine(match, timeoutMs = 10_000) {
      let listener;
      const found = new Promise((resolve) => {
        listener = (line) => {
          const v = match(line);
          if (v !== undefined) resolve(v);
        };
        stderrListeners.add(listener);
      });
      return withTimeout(found, timeoutMs, 'agent probe').finally(() => stderrListeners.delete(listener));
    },
  };
}
