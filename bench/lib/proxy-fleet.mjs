/**
 * The setup shared by the proxy cases: one `ws` echo upstream, and in front
 * of it the agent, the bare Node relay (the floor: accept, connect, pipe),
 * http-proxy and nginx, each in its own process, plus the load-generating
 * client process. With several node binaries (bench --node 20,22,24) there
 * is one agent and one relay per binary, and http-proxy is left out (its
 * rows compare nothing the versions decide). `targets` lists where clients
 * connect and which pids are "the proxy" for CPU and memory; `variants`
 * names the agent and relay target of each node binary; agentRow() builds
 * the rows that compare such an agent with another target.
 */
import { forkChild, startAgent, startRelay } from './children.mjs';
import { nginxMissingReason, startNginx } from './nginx.mjs';
import { compareRow } from './rows.mjs';

/**
 * The agent/relay pairs of a run: `{ node, agent, relay, suffix }` per node
 * binary, where `agent` and `relay` are target names and `suffix` goes after
 * a row's name when the run compares node versions.
 */
export function proxyVariants(nodes) {
  if (nodes.length === 1) return [{ node: nodes[0], agent: 'agent', relay: 'relay', suffix: '' }];
  return nodes.map((node) => ({ node, agent: `agent@${node.label}`, relay: `relay@${node.label}`, suffix: ` [node ${node.version}]` }));
}

export async function startProxyFleet({ agentNodeArgs = [], nodes, withHttpProxy = nodes.length === 1 }) {
  const started = [];
  const keep = (promise) => promise.then((p) => (started.push(p), p));
  const variants = proxyVariants(nodes);
  try {
    const [upstream, client] = await Promise.all([keep(forkChild('echo-upstream.mjs')), keep(forkChild('load-client.mjs'))]);
    const upstreamUrl = `ws://127.0.0.1:${upstream.info.port}/`;
    const nginxSkip = nginxMissingReason();
    const [pairs, hp, nginx] = await Promise.all([
      Promise.all(
        variants.map((v) =>
          Promise.all([
            keep(startAgent({ upstream: upstreamUrl, nodeArgs: agentNodeArgs, node: v.node.bin })),
            keep(startRelay({ upstreamPort: upstream.info.port, node: v.node.bin })),
          ]),
        ),
      ),
      withHttpProxy ? keep(forkChild('http-proxy.mjs', { args: [String(upstream.info.port)] })) : undefined,
      nginxSkip ? undefined : keep(startNginx({ upstreamPort: upstream.info.port })),
    ]);
    const targets = [{ name: 'direct', url: upstreamUrl, pids: () => [] }];
    for (const [i, v] of variants.entries()) {
      const [agent, relay] = pairs[i];
      targets.push({ name: v.agent, url: agent.url, pids: () => [agent.pid] }, { name: v.relay, url: relay.url, pids: () => [relay.pid] });
    }
    if (hp) targets.push({ name: 'http-proxy', url: `ws://127.0.0.1:${hp.info.port}/`, pids: () => [hp.pid] });
    if (nginx) targets.push({ name: 'nginx', url: nginx.url, pids: nginx.pids });
    return {
      upstream,
      client,
      variants,
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

/**
 * A row of a proxy case, named `<measure>, agent vs <baseline>` (and the
 * node version where the run compares several): the agent of variant `v`
 * against the target named `baseline`, both read from `values`
 * ({ [target name]: per-round samples }). `better` ('lower' | 'higher') adds
 * the variant's bare relay as the floor.
 */
export function agentRow(caseId, v, values, baseline, { measure, unit, target, check, better, note }) {
  return compareRow({
    caseId,
    name: `${measure}, agent vs ${baseline}${v.suffix}`,
    unit,
    oursLabel: v.agent,
    baselineLabel: baseline,
    ours: values[v.agent],
    baseline: values[baseline],
    target,
    check,
    note,
    floor: better ? { label: v.relay, values: values[v.relay], better } : undefined,
  });
}
