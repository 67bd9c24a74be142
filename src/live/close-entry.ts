/**
 * One recent close as the ring, the JSON API, the live page and the close
 * log show it, and the escaping of the peer-controlled text in it (the close
 * reason and the request path). That text is kept only here, never in a label.
 */
import type { CloseEntry } from './api-types.js';

export type { CloseEntry };

/** RFC 6455 §5.5: a close reason is at most 123 bytes (125 minus the code). */
const MAX_REASON_BYTES = 123;
/** A reason string this long or shorter is at most 3 x 123 bytes of UTF-8 whatever it holds: the ring keeps it as given. */
export const MAX_REASON_CHARS = MAX_REASON_BYTES;
/** Paths longer than this are cut (with a trailing '…'): the ring's memory stays bounded whatever the peer requests. */
export const MAX_PATH_CHARS = 256;
/** The longest text pathOf() returns: every character kept escaped as \uXXXX (6 characters), and the cut mark. */
export const MAX_PATH_TEXT_CHARS = MAX_PATH_CHARS * 6 + 1;

const HEX = '0123456789abcdef';

function hex2(n: number): string {
  return HEX[(n >> 4) & 15]! + HEX[n & 15]!;
}

/** Code points shown as \u escapes: C0, DEL, C1, and those that reorder or hide text (bidi controls, line separators, BOM). */
function isHidden(cp: number): boolean {
  return (
    cp < 0x20 ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069) ||
    cp === 0xfeff
  );
}

function escapeCodePoint(cp: number): string {
  return `\\u${hex2(cp >> 8)}${hex2(cp & 0xff)}`;
}

/**
 * The reason bytes as text a person can read and nothing can hide in: at
 * most the first 123 bytes; valid UTF-8 decoded; control, bidi and
 * separator characters as `\uXXXX`; bytes that are not valid UTF-8 as
 * `\xNN`; a backslash doubled so that the escapes are unambiguous. HTML
 * escaping is the page's business (it only ever sets textContent).
 */
export function escapeReason(bytes: Uint8Array): string {
  const end = Math.min(bytes.length, MAX_REASON_BYTES);
  let out = '';
  let i = 0;
  while (i < end) {
    const b = bytes[i]!;
    if (b < 0x80) {
      out += b === 0x5c ? '\\\\' : isHidden(b) ? escapeCodePoint(b) : String.fromCharCode(b);
      i++;
      continue;
    }
    // Length and minimum of a multi-byte sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
    const n = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    let cp = n === 2 ? b & 0x1f : n === 3 ? b & 0x0f : b & 0x07;
    let ok = n !== 0 && i + n <= end;
    for (let k = 1; ok && k < n; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (c & 0x3f);
    }
    if (ok && ((n === 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n === 4 && (cp < 0x10000 || cp > 0x10ffff)))) ok = false;
    if (!ok) {
      out += `\\x${hex2(b)}`;
      i++;
      continue;
    }
    out += isHidden(cp) ? escapeCodePoint(cp) : String.fromCodePoint(cp);
    i += n;
  }
  return out;
}

/** escapeReason for a reason given as text (a server's close(code, 'text')): its UTF-8 bytes. */
export function escapeReasonText(reason: string): string {
  if (reason.length === 0) return '';
  // Plain printable ASCII (the usual reason) needs neither encoding nor escaping.
  if (reason.length <= MAX_REASON_BYTES && /^[\x20-\x5b\x5d-\x7e]*$/.test(reason)) return reason;
  return escapeReason(Buffer.from(reason.slice(0, MAX_REASON_BYTES), 'utf8'));
}

/**
 * The path of a request target without its query string or fragment,
 * at most MAX_PATH_CHARS characters, control characters escaped. Node's
 * HTTP parser rejects most control bytes in a target already; this is for
 * whatever a framework or a proxy hands over.
 */
export function pathOf(url: string | undefined): string {
  if (url === undefined || url.length === 0) return '';
  let end = url.length;
  const q = url.indexOf('?');
  if (q >= 0) end = q;
  const h = url.indexOf('#');
  if (h >= 0 && h < end) end = h;
  const cut = end > MAX_PATH_CHARS;
  let path = url.slice(0, cut ? MAX_PATH_CHARS : end);
  if (!/^[\x21-\x7e]*$/.test(path)) {
    let escaped = '';
    for (const ch of path) {
      const cp = ch.codePointAt(0)!;
      escaped += ch === '\\' ? '\\\\' : isHidden(cp) || cp === 0x20 ? escapeCodePoint(cp) : ch;
    }
    path = escaped;
  }
  if (cut) path += '…';
  // A copy, not a slice: a V8 sliced string would keep the whole request target alive in the ring.
  return path === url ? url : Buffer.from(path, 'utf8').toString('utf8');
}

/** What pathOf() never leaves in a path: a query or fragment mark, a space, a hidden character. */
// eslint-disable-next-line no-control-regex -- finding control characters is its job
const NOT_PATH_OF = /[?#\x00-\x20\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;

/** `path` as pathOf() would make it, for text that may come from pathOf() already (then it is returned as it is: pathOf() twice would double its escapes). */
export function pathOfOnce(path: string): string {
  return NOT_PATH_OF.test(path) ? pathOf(path) : path;
}
