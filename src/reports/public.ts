/**
 * `ws-close-agent/reports`: the endpoint the browser module posts its close
 * reports to, for apps that use the hook. It joins reports with the closes
 * of the recorder that the same registry, prefix and labels name (pass the
 * options you gave instrument()), the one way a recorder is shared.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rejectRecorderOption, type CloseRecorder } from '../hook/public.js';
import { closeReportHandler as closeReportHandlerInternal, type CloseReportOptions as InternalOptions } from './handler.js';

/** closeReportHandler()'s options: the recorder's (registry, prefix, labels, codes) and the report table's. */
export type CloseReportOptions = Omit<InternalOptions, 'recorder'>;

export interface CloseReportHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** The recorder the reports are joined with and counted in. */
  readonly recorder: CloseRecorder;
  /** Stop listening for closes; later reports are turned away as unknown ids. */
  close(): void;
}

/**
 * A plain (req, res) handler for POST /ws-close-agent/report. Create it
 * before the connections whose reports it should join open. Options are
 * validated here and throw OptionError naming the bad one.
 */
export function closeReportHandler(options: CloseReportOptions = {}): CloseReportHandler {
  rejectRecorderOption(options);
  return closeReportHandlerInternal(options);
}
