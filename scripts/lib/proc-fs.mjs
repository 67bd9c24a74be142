/**
 * What /proc says about a process: its open descriptors (optionally without
 * the connections accepted on one local port, e.g. the reader's own /metrics
 * scrapes) and its resident set size. Shared by soak/ and the hostile tests.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Inodes of the TCP connections (not listeners) whose local port is `port`. */
function connectionInodes(port) {
  const inodes = new Set();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is field 1 ("ADDR:PORT"), st field 3 (0A = LISTEN), inode field 9.
      if (f.length > 9 && f[1].endsWith(`:${hex}`) && f[3] !== '0A') inodes.add(f[9]);
    }
  }
  return inodes;
}

/**
 * Open descriptors of a process (entries of /proc/PID/fd). With
 * `ignorePort`, connections accepted on that local port are not counted.
 */
export function fdCount(pid, ignorePort) {
  const entries = readdirSync(`/proc/${pid}/fd`);
  if (ignorePort === undefined) return entries.length;
  const ignored = connectionInodes(ignorePort);
  let n = 0;
  for (const e of entries) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${e}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && ignored.has(m[1])) continue;
    n++;
  }
  return n;
}

/** Resident set size of a process in bytes (VmRSS of /proc/PID/status). */
export function rssBytes(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** The port of a HOST:PORT. */
export function portOf(hostPort) {
  return Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
}
