import type { Server } from 'node:net';
/** Listen on 127.0.0.1 port 0; resolves with the port and the ws:// URL of it. */
export function listenLoopback(server: Server): Promise<{ port: number; url: string }>;
