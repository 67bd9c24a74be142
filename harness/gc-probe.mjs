/**
 * Preloaded into the agent by bench and soak (node --expose-gc --import): on
 * SIGUSR2, collect garbage and print one JSON line with the heap and RSS to
 * stderr, so that heap readings compare live data rather than garbage. Adds
 * nothing else to the agent.
 */
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  process.stderr.write(
    `${JSON.stringify({ gcProbe: { heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers } })}\n`,
  );
});
