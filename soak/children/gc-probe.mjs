/**
 * Preloaded into the agent for the soak (node --expose-gc --import): on
 * SIGUSR2, collect garbage and print one JSON line to stderr, so that the
 * runner's next /metrics scrape reads the heap of live data only. Adds
 * nothing else to the agent.
 */
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  process.stderr.write(`${JSON.stringify({ soakProbe: 'gc', heapUsed: m.heapUsed, rss: m.rss })}\n`);
});
