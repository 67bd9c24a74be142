# syntax=docker/dockerfile:1
# ws-close-agent: the WebSocket close-code agent, for gateway or sidecar use.
#
#   docker build -t ws-close-agent .
#   docker run --rm -p 8080:8080 -p 9095:9095 ws-close-agent --upstream ws://backend:3000
#
# Without --upstream the agent serves its built-in echo endpoint. Flags can
# also be given as WS_CLOSE_AGENT_* environment variables.

# Node LTS, pinned to an exact release; bump it on purpose (a digest pin,
# node:<version>-bookworm-slim@sha256:..., is stricter still).
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# --- build: dev dependencies + TypeScript -> dist/ --------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# image/package.json: the compiler and the runtime dependencies only (the
# repository's own lock holds every test tool, browsers and runtimes included).
COPY image/package.json image/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.cjs.json tsconfig.browser.json tsconfig.page.json ./
COPY scripts/build.mjs ./scripts/build.mjs
COPY src ./src
RUN npm run build

# --- deps: production dependencies only (ws, prom-client) ------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
# prom-client and ws are the library's peer dependencies; the agent is their app.
COPY image/package.json image/package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# --- runtime -----------------------------------------------------------------
FROM ${NODE_IMAGE}
ARG NODE_IMAGE
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ws-close-agent" \
      org.opencontainers.image.description="WebSocket close-code observability agent: a transparent WebSocket proxy exporting close codes to Prometheus" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/${NODE_IMAGE}"

# tini as PID 1: forwards SIGTERM to node (which then drains with 1001) and
# reaps zombies, so no `docker run --init` is needed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the `node` user: the agent writes no files,
# so the container also runs with a read-only root filesystem.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./

USER node
# 8080: WebSocket (--listen); 9095: /metrics, /healthz, /readyz (--metrics-listen).
EXPOSE 8080 9095

# Slim images have no curl; node asks /healthz on the metrics port (taken from
# WS_CLOSE_AGENT_METRICS_LISTEN when that is set).
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const port = (process.env.WS_CLOSE_AGENT_METRICS_LISTEN || ':9095').split(':').pop(); require('http').get({ host: '127.0.0.1', port, path: '/healthz', timeout: 2000 }, (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1));"]

# Exec form, node directly (not npm), so SIGTERM reaches the agent.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/esm/agent/main.js"]
