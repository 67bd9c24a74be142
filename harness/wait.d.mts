export function sleep(ms: number): Promise<void>;
/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T>;
/** Poll `check` until it returns true, at most `timeoutMs`; resolves with whether it did. */
export function pollUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs?: number): Promise<boolean>;
/** Poll until `check` returns true; fails after `timeoutMs` with `what` in the message. */
export function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs?: number, intervalMs?: number): Promise<void>;
