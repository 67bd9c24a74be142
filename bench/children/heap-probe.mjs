/**
 * Preloaded into the agent for the memory case only (node --expose-gc
 * --import): on SIGUSR2, collect garbage and print one JSON line with the
 * heap and RSS to stderr. Adds nothing else to the agent.
 */
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  process.stderr.write(`${JSON.stringify({ benchProbe: 'memory', heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers })}\n`);
});
