import { expect } from 'vitest';
import { closesByLabels, parseExposition, promtoolCheckMetrics, sumOf } from './exposition.js';
import { waitFor } from './wait.js';

/**
 * Scrapes `metricsUrl` until `expected` holds as a whole (exact closes, opened = their sum,
 * nothing active) and the text passes promtool; `eachResponse` checks every scrape's headers.
 */
export async function expectScrapedCloses(metricsUrl: string, expected: Record<string, number>, eachResponse?: (res: Response) => void): Promise<void> {
  const total = Object.values(expected).reduce((a, b) => a + b, 0);
  let text = '';
  await waitFor(
    async () => {
      const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) });
      eachResponse?.(res);
      text = await res.text();
      return sumOf(parseExposition(text), 'websocket_connections_closed_total') >= total;
    },
    `${total} closes on ${metricsUrl}`,
    10_000,
  );
  const samples = parseExposition(text);
  expect(closesByLabels(samples)).toEqual(expected);
  expect(sumOf(samples, 'websocket_connections_opened_total')).toBe(total);
  expect(sumOf(samples, 'websocket_connections_active')).toBe(0);
  promtoolCheckMetrics(text);
}
