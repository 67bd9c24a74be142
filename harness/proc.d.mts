/** Open descriptors of a process; with `ignorePort`, connections accepted on that local port are not counted. */
export function fdCount(pid: number, ignorePort?: number): number;
/** Resident set size of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number;
/** The port of a HOST:PORT. */
export function portOf(hostPort: string): number;
