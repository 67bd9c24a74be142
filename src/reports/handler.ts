/**
 * closeReportHandler(): the endpoint pages post their close reports to
 * (POST /ws-close-agent/report by default in the browser module). A plain
 * (req, res) handler, for node:http, express, or the agent's own port.
 *
 * A report is accepted once per id, only for an id the server recorded a
 * close for (within the window; one that comes early is held for its
 * close), only from an allowed origin, within a body limit and a
 * per-address rate limit. Every other request is answered with a 4xx and
 * counted in websocket_client_reports_rejected_total{reason}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientReportRejectReason } from '../codes/vocabulary.js';
import { toCloseId, type CloseId } from '../hook/close-id.js';
import { OptionError, type RecorderOptions } from '../recorder/options.js';
import type { CloseRecorder } from '../recorder/recorder.js';
import { createRecorder } from '../recorder/registry.js';
import { CloseTable, type ReportOutcome } from './close-table.js';
import { DEFAULT_REPORT_MAX_BODY_BYTES, DEFAULT_REPORT_MAX_ENTRIES, DEFAULT_REPORT_RATE_LIMIT, DEFAULT_REPORT_WINDOW_MS, originsOption } from './options.js';
import { RateLimit } from './rate-limit.js';

export interface CloseReportOptions extends RecorderOptions {
  /** Join reports with this recorder's closes (default: the one createRecorder(options) returns, which instrument() with the same options feeds). */
  recorder?: CloseRecorder;
  /** How long a closed connection's id is remembered, in ms. Default 120000. */
  windowMs?: number;
  /** Most closed connections remembered, most reports held, most addresses rate-limited. Default 10000. */
  maxEntries?: number;
  /** Origins (scheme://host[:port]) whose pages may report, or '*'. Default: the page on the same host as the request. */
  origins?: readonly string[] | '*';
  /** Largest report body, in bytes. Default 1024. */
  maxBodyBytes?: number;
  /** Reports per client address per minute; 0 turns the limit off. Default 60. */
  rateLimit?: number;
  /** How long a report that arrives before its connection's close is held, in ms. Default: 10000, or windowMs if shorter. */
  holdMs?: number;
}

export interface CloseReportHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** The recorder the reports are joined with and counted in. */
  readonly recorder: CloseRecorder;
  /** Stop listening for closes; later reports are turned away as unknown ids. */
  close(): void;
}

const DEFAULT_HOLD_MS = 10_000;

const STATUS: Record<ReportOutcome, number> = {
  joined: 204,
  held: 202,
  duplicate: 409,
  unknown_id: 404,
  too_large: 413,
  bad_request: 400,
  origin: 403,
  rate_limited: 429,
};

function integerOption(options: CloseReportOptions, name: keyof CloseReportOptions, fallback: number, min: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new OptionError(`${name} must be an integer of at least ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Whether the request's Origin may report: listed, or (by default) the same host as the request. */
function originAllowed(req: IncomingMessage, allowed: Set<string> | '*' | undefined): boolean {
  const origin = req.headers.origin;
  if (allowed === '*') return true;
  if (typeof origin !== 'string') return false; // browsers send Origin on every POST, sendBeacon's included
  if (allowed !== undefined) return allowed.has(origin.toLowerCase());
  const host = req.headers.host?.toLowerCase();
  const lower = origin.toLowerCase();
  return host !== undefined && (lower === `http://${host}` || lower === `https://${host}`);
}

interface Report {
  id: CloseId;
  code: number;
  clean: boolean;
}

/** The report in `body`, or undefined when it is not one: {id, code, clean[, ms][, gone]}. */
function parseReport(body: string): Report | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const { id: idText, code, clean, ms, gone } = value as Record<string, unknown>;
  const id = toCloseId(idText);
  if (id === undefined) return undefined;
  // CloseEvent.code is 1000-4999 (1005, 1006 and 1015 included): nothing else is a close a browser saw.
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 1000 || code > 4999) return undefined;
  if (typeof clean !== 'boolean') return undefined;
  if (ms !== undefined && (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms))) return undefined;
  if (gone !== undefined && typeof gone !== 'boolean') return undefined;
  return { id, code, clean };
}

function answer(res: ServerResponse, status: number, close = false): void {
  if (res.headersSent || res.writableEnded) return;
  res.statusCode = status;
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', 0);
  if (close) res.setHeader('Connection', 'close');
  res.end();
}

/**
 * The report endpoint. Mount it before any body parser (it reads the body
 * itself; a string or Buffer `req.body` left by one is used as it is), on
 * the path the browser module posts to, and create it before the
 * connections whose reports it should join open: the hook reads their ids
 * only while it exists.
 */
export function closeReportHandler(options: CloseReportOptions = {}): CloseReportHandler {
  if (options === null || typeof options !== 'object') throw new OptionError('options must be an object');
  const windowMs = integerOption(options, 'windowMs', DEFAULT_REPORT_WINDOW_MS, 1);
  const maxEntries = integerOption(options, 'maxEntries', DEFAULT_REPORT_MAX_ENTRIES, 1);
  const maxBodyBytes = integerOption(options, 'maxBodyBytes', DEFAULT_REPORT_MAX_BODY_BYTES, 64);
  const limit = integerOption(options, 'rateLimit', DEFAULT_REPORT_RATE_LIMIT, 0);
  const holdMs = integerOption(options, 'holdMs', Math.min(DEFAULT_HOLD_MS, windowMs), 0);
  const origins = originsOption(options.origins);
  const recorder = options.recorder ?? createRecorder(options);
  const counts = recorder.clientReports;
  const table = new CloseTable(counts, { windowMs, maxEntries, holdMs });
  const rate = new RateLimit(limit, maxEntries);
  let open = true;
  const removeListener = recorder.addCloseListener(table.onClose);
  counts.enable();

  const reject = (res: ServerResponse, reason: ClientReportRejectReason, status = STATUS[reason]): void => {
    counts.recordRejected(reason);
    answer(res, status, reason === 'too_large');
  };

  const settle = (res: ServerResponse, body: string): void => {
    const report = parseReport(body);
    if (report === undefined) return reject(res, 'bad_request');
    const outcome: ReportOutcome = open ? table.report(report.id, report.code, report.clean) : 'unknown_id';
    if (outcome === 'joined' || outcome === 'held') return answer(res, STATUS[outcome]);
    reject(res, outcome);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        return reject(res, 'bad_request', 405);
      }
      if (!rate.take(req.socket.remoteAddress ?? '')) return reject(res, 'rate_limited');
      if (!originAllowed(req, origins)) return reject(res, 'origin');
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > maxBodyBytes) return reject(res, 'too_large');
      const parsed = (req as { body?: unknown }).body;
      if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) {
        if (Buffer.byteLength(parsed) > maxBodyBytes) return reject(res, 'too_large');
        return settle(res, parsed.toString());
      }
      if (req.readableEnded) return reject(res, 'bad_request'); // a body parser took the body and left no text
      const chunks: Buffer[] = [];
      let size = 0;
      let over = false;
      req.on('data', (chunk: Buffer) => {
        if (over) return;
        size += chunk.length;
        if (size > maxBodyBytes) {
          over = true; // chunked without a length: stop collecting, answer once, let the rest drain
          return reject(res, 'too_large');
        }
        chunks.push(chunk);
      });
      req.once('end', () => {
        if (!over) settle(res, Buffer.concat(chunks, size).toString());
      });
      req.once('error', () => undefined); // the client went away: nothing to answer or count
    } catch {
      reject(res, 'bad_request', 500);
    }
  };

  return Object.assign(handler, {
    recorder,
    close(): void {
      if (!open) return;
      open = false;
      removeListener();
      table.close();
    },
  });
}
