/**
 * The parent side of the request/answer protocol that bench/ and soak/ use
 * with their child processes (the child side is ipc-serve.mjs):
 * { id, command, params } -> { id, result } or { id, error }, plus
 * { type: 'ready', ...info } once and { type: 'event', name, data } at will.
 */
import { basename } from 'node:path';
import { spawnTracked, waitForExit } from './children.mjs';
import { withTimeout } from './wait.mjs';

/**
 * Talk to a child started with an IPC channel (`script` names it in errors).
 * Resolves once the child announced `ready`; `info` holds what it announced.
 */
async function connectChild(proc, script, { onEvent = () => undefined, readyTimeoutMs = 15_000 } = {}) {
  const pending = new Map();
  let nextId = 1;
  let onReady;
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    proc.once('exit', (code, signal) => reject(new Error(`${script} exited (${code ?? signal}) before it was ready`)));
  });
  proc.on('message', (msg) => {
    if (msg.type === 'ready') return onReady(msg);
    if (msg.type === 'event') return onEvent(msg.name, msg.data);
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${script}: ${msg.error}`));
    else p.resolve(msg.result);
  });
  proc.on('exit', (code, signal) => {
    for (const p of pending.values()) p.reject(new Error(`${script} exited (${code ?? signal})`));
    pending.clear();
  });
  const info = await withTimeout(ready, readyTimeoutMs, `${script} start`);
  return {
    proc,
    pid: proc.pid,
    info,
    /** Ask the child to run `command`; rejects after `timeoutMs`. */
    request(command, params = {}, timeoutMs = 60_000) {
      const id = nextId++;
      const answer = new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        proc.send({ id, command, params });
      });
      return withTimeout(answer, timeoutMs, `${script} ${command}`);
    },
    async stop() {
      if (proc.connected) proc.disconnect(); // children exit on disconnect
      await waitForExit(proc, 5_000);
    },
  };
}

/**
 * Start the node script at `path` (a child that answers over IPC, see
 * ipc-serve.mjs), tracked, with `nodeArgs` before it and `args` after it;
 * `nofile` and `nice` as in spawnTracked; `node` is the node binary (the
 * runner's own by default). Resolves once it announced
 * `ready`; `info` holds what it announced (ports, ...), `onEvent` gets the
 * events it sends between answers.
 */
export function startChild(path, { args = [], nodeArgs = [], nofile, nice = 0, onEvent, readyTimeoutMs = 15_000, node = process.execPath } = {}) {
  const proc = spawnTracked(node, [...nodeArgs, path, ...args], { nofile, nice, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return connectChild(proc, basename(path), { onEvent, readyTimeoutMs });
}
