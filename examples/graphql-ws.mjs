// graphql-ws: useServer(options, wss) on a ws server, instrument(wss) beside
// it. graphql-ws closes with its own 44xx codes (4400 bad message, 4401
// unauthorized, 4408 init timeout, 4409 duplicate subscriber, ...), named here.
//   PORT=8080 node examples/graphql-ws.mjs   (after npm run build)
import { createServer } from 'node:http';
import { GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { instrument, metricsHandler } from 'ws-close-agent';

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { hello: { type: GraphQLString, resolve: () => 'world' } } }),
});

/** graphql-ws's close codes, named for the `codename` label. */
export const GRAPHQL_WS_CODES = {
  4400: 'GQL_BAD_REQUEST',
  4401: 'GQL_UNAUTHORIZED',
  4403: 'GQL_FORBIDDEN',
  4406: 'GQL_SUBPROTOCOL_NOT_ACCEPTABLE',
  4408: 'GQL_INIT_TIMEOUT',
  4409: 'GQL_SUBSCRIBER_EXISTS',
  4429: 'GQL_TOO_MANY_INIT_REQUESTS',
  4499: 'GQL_TERMINATED',
};

export function createGraphqlWsApp({ registry = new Registry(), connectionInitWaitTimeout = 3000 } = {}) {
  const serveMetrics = metricsHandler(registry);
  const server = createServer((req, res) => {
    if (req.url === '/metrics') return serveMetrics(req, res);
    res.statusCode = 404;
    res.end();
  });
  const wss = new WebSocketServer({ server, path: '/graphql' });
  instrument(wss, { registry, codes: GRAPHQL_WS_CODES });
  const disposable = useServer({ schema, connectionInitWaitTimeout }, wss);
  return { server, wss, registry, disposable };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { server } = createGraphqlWsApp();
  server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
    const { port } = server.address();
    console.log(JSON.stringify({ msg: 'listening', graphql: `ws://127.0.0.1:${port}/graphql`, metrics: `http://127.0.0.1:${port}/metrics` }));
  });
}
