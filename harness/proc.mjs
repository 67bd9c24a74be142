/**
 * What /proc says about processes: open descriptors (optionally without the
 * connections accepted on one local port, e.g. the reader's own /metrics
 * scrapes), descriptor limits, resident set size, CPU time, children, and
 * the whole machine's busy cores. CPU comes from two sources: utime+stime of
 * /proc/<pid>/stat (whole thread group, in clock ticks: 10 ms on this
 * kernel) and the per-thread schedstat run time (ns); readers use the
 * nanosecond figure when /proc offers it, because a 10 ms tick is coarser
 * than the differences several benchmark cases look for.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cpus } from 'node:os';

/** Inodes of the TCP connections (not listeners) whose local port is `port`. */
function connectionInodes(port) {
  const inodes = new Set();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
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
    let target;
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

/** The soft "Max open files" of a running process. */
export function openFilesLimit(pid) {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  if (!m) throw new Error(`no "Max open files" in /proc/${pid}/limits`);
  return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

function readClockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

const CLOCK_TICKS = readClockTicks();

/** Fields of /proc/<pid>/stat we use. The command name may hold spaces, so split after its ')'. */
function readProcStat(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); field n is f[n - 3].
  return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]) };
}

/** utime + stime of the thread group, in seconds (tick resolution). */
function readStatCpuSeconds(pid) {
  const s = readProcStat(pid);
  return (s.utime + s.stime) / CLOCK_TICKS;
}

/** Sum of the run time of every thread of `pid`, in seconds (ns resolution); undefined without schedstat. */
function readSchedCpuSeconds(pid) {
  let ns = 0;
  let tasks;
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  for (const tid of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that exited between readdir and read.
    }
  }
  return Number.isFinite(ns) ? ns / 1e9 : undefined;
}

/** CPU seconds of `pids` together: the ns figure when available, else the tick figure. */
export function readCpuSeconds(pids) {
  let total = 0;
  for (const pid of pids) total += readSchedCpuSeconds(pid) ?? readStatCpuSeconds(pid);
  return total;
}

/** Resident set size of `pids` together, in bytes. */
export function readRssBytes(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      total += rssBytes(pid);
    } catch {
      // A process that is exiting (no VmRSS any more) holds no memory to count.
    }
  }
  return total;
}

/** Direct children of `pid` (nginx's workers), by scanning /proc. */
export function findChildPids(pid) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readProcStat(entry).ppid === pid) out.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return out;
}

function readCpuLine() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] || 0); // idle + iowait
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}

/** Cores kept busy by the whole machine over the next `ms` (other people's load, when nothing of ours runs). */
export async function measureBusyCores(ms) {
  const a = readCpuLine();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = readCpuLine();
  const total = b.total - a.total;
  return total > 0 ? ((total - (b.idle - a.idle)) / total) * cpus().length : NaN;
}

/**
 * This process's CPU time in ns (getrusage: precise, all threads). In-process
 * cases time with it rather than the wall clock, so that time sliced away to
 * other processes on a busy machine does not count.
 */
export function readOwnCpuNs() {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}
