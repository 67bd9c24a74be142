/** A `ws` message as text, whatever its binaryType (one Buffer, an ArrayBuffer, or fragments). */
import type { RawData } from 'ws';

export function textOf(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}
