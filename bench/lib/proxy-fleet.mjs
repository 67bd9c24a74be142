/**
 * The setup shared by the proxy cases: one `ws` echo upstream, and in front
 * of it the agent, http-proxy and nginx, each in its own process, plus the
 * load-generating client process. `targets` lists where clients connect and
 * which pids are "the proxy" for CPU and memory.
 */
import { forkChild, startAgent } from './children.mjs';
import { nginxMissingReason, startNginx } from './nginx.mjs';

export async function startProxyFleet({ agentNodeArgs = [], withHttpProxy = true } = {}) {
  const started = [];
  const keep = (promise) => promise.then((p) => (started.push(p), p));
  try {
    const [upstream, client] = await Promise.all([keep(forkChild('echo-upstream.mjs')), keep(forkChild('load-client.mjs'))]);
    const upstreamUrl = `ws://127.0.0.1:${upstream.info.port}/`;
    const nginxSkip = nginxMissingReason();
    const [agent, hp, nginx] = await Promise.all([
      keep(startAgent({ upstream: upstreamUrl, nodeArgs: agentNodeArgs })),
      withHttpProxy ? keep(forkChild('http-proxy.mjs', { args: [String(upstream.info.port)] })) : undefined,
      nginxSkip ? undefined : keep(startNginx({ upstreamPort: upstream.info.port })),
    ]);
    const targets = [
      { name: 'direct', url: upstreamUrl, pids: () => [] },
      { name: 'agent', url: agent.url, pids: () => [agent.pid] },
    ];
    if (hp) targets.push({ name: 'http-proxy', url: `ws://127.0.0.1:${hp.info.port}/`, pids: () => [hp.pid] });
    if (nginx) targets.push({ name: 'nginx', url: nginx.url, pids: nginx.pids });
    return {
      upstream,
      client,
      agent,
      targets,
      nginxSkip,
      async stop() {
        await Promise.all(started.map((p) => p.stop()));
      },
    };
  } catch (err) {
    // Let every start settle, so that nothing started late is left behind.
    await new Promise((resolve) => setTimeout(resolve, 100));
    await Promise.all(started.map((p) => p.stop().catch(() => undefined)));
    throw err;
  }
}
