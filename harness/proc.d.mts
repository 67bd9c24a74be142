/** Open descriptors of a process; with `ignorePort`, connections accepted on that local port are not counted. */
export function fdCount(pid: number, ignorePort?: number): number;
/** Resident set size of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number;
/** The port of a HOST:PORT. */
export function portOf(hostPort: string): number;
/** The soft "Max open files" of a running process. */
export function openFilesLimit(pid: number): number;
/** CPU seconds of `pids` together: the ns figure when available, else the tick figure. */
export function readCpuSeconds(pids: number[]): number;
/** Resident set size of `pids` together, in bytes. */
export function readRssBytes(pids: number[]): number;
/** Direct children of `pid`. */
export function findChildPids(pid: number): number[];
/** Cores kept busy by the whole machine over the next `ms`. */
export function measureBusyCores(ms: number): Promise<number>;
/** This process's CPU time in ns. */
export function readOwnCpuNs(): number;
