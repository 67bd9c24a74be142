/**
 * The connection id a browser page puts in the upgrade request's query
 * (`ws_close_id`, see ws-close-agent/browser) so that its close report can be
 * joined to the close the server recorded. Read only while the recorder has
 * a close listener (recorder.wantsDetails): without client reports the
 * request is not looked at.
 */
import type { IncomingMessage } from 'node:http';
import type { CloseDetails } from '../recorder/recorder.js';

export const CLOSE_ID_PARAM = 'ws_close_id';
/** 32 lowercase hex digits: the browser module's 128 random bits, and nothing a peer could make longer. */
export const CLOSE_ID_LENGTH = 32;

/** Whether `s` has the shape of a close id. */
export function isCloseId(s: unknown): s is string {
  if (typeof s !== 'string' || s.length !== CLOSE_ID_LENGTH) return false;
  for (let i = 0; i < CLOSE_ID_LENGTH; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

const NEEDLE = `${CLOSE_ID_PARAM}=`;

/**
 * The first ws_close_id in a request target's query, when it has the exact
 * shape; undefined otherwise (absent, empty, too long, other characters).
 * Scans the string instead of building a URL: this runs at every upgrade.
 */
export function closeIdOf(target: string | undefined): string | undefined {
  if (target === undefined) return undefined;
  const query = target.indexOf('?');
  if (query < 0) return undefined;
  let at = target.indexOf(NEEDLE, query + 1);
  while (at >= 0) {
    const before = target.charCodeAt(at - 1);
    if (before === 63 /* ? */ || before === 38 /* & */) {
      const start = at + NEEDLE.length;
      const end = start + CLOSE_ID_LENGTH;
      const after = target.charCodeAt(end); // NaN at the end of the string
      if (!(Number.isNaN(after) || after === 38 || after === 35 /* # */)) return undefined;
      const id = target.slice(start, end);
      return isCloseId(id) ? id : undefined;
    }
    at = target.indexOf(NEEDLE, at + 1);
  }
  return undefined;
}

/** The close id of a hooked connection's upgrade request, read only while someone listens for close details. */
export function closeIdOfUpgrade(wantsDetails: boolean, req: IncomingMessage | undefined): string | undefined {
  return wantsDetails && req !== undefined ? closeIdOf(req.url) : undefined;
}

/** The details a close with `closeId` is recorded with (none without an id). */
export function closeIdDetails(closeId: string | undefined): CloseDetails | undefined {
  return closeId === undefined ? undefined : { closeId };
}
