/**
 * The client's side of the close, end to end in headless Chromium: a page
 * loads the browser module (install()), opens one WebSocket, and the server
 * ends it one way or another; the page's report is joined with the close the
 * server recorded. Hook mode here: an express app with instrument() and
 * closeReportHandler() mounted; a test middlebox between the page and the
 * app can swallow the server's close frame.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { instrument, type Instrumentation } from '../dist/esm/index.js';
import { closeReportHandler, type CloseReportHandler } from '../dist/esm/reports/public.js';
import { startCloseSwallower, type CloseSwallower } from './helpers/close-swallower.js';
import { CLIENT_JS, SCENARIO_PAGE, actOn, runScenario } from './helpers/client-report-scenarios.js';

describe('hook mode: an express app with closeReportHandler() mounted, in headless Chromium', () => {
  let server: Server;
  let wss: WebSocketServer;
  let hook: Instrumentation;
  let reports: CloseReportHandler;
  let swallower: CloseSwallower;
  let base: string;
  const registry = new Registry();

  beforeAll(async () => {
    const app = express();
    app.get('/ws-close-agent/client.js', (_req, res) => void res.type('text/javascript').send(CLIENT_JS));
    server = createServer(app);
    wss = new WebSocketServer({ server, path: '/ws' });
    hook = instrument(wss, { registry });
    // Created before the first connection: the hook reads the ids only while it listens.
    reports = closeReportHandler({ registry });
    expect(reports.recorder).toBe(hook.recorder);
    app.post('/ws-close-agent/report', reports);
    app.get('/done', (_req, res) => void res.type('html').send('<!doctype html><title>done</title>done'));
    app.get('/', (_req, res) => void res.type('html').send(SCENARIO_PAGE));
    wss.on('connection', (ws, req) => {
      ws.on('error', () => undefined);
      actOn(ws, req.url);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
    swallower = await startCloseSwallower(port);
  });

  afterAll(async () => {
    await swallower?.close();
    reports?.close();
    hook?.uninstall();
    wss?.close();
    server?.closeAllConnections();
    server?.close();
  });

  const metrics = (): Promise<string> => registry.metrics();

  it('the server closes with 4001: both views agree', async () => {
    await runScenario('close4001', base, metrics);
  });

  it('the server drops TCP: both see 1006', async () => {
    await runScenario('drop', base, metrics);
  });

  it('a middlebox swallows the close frame: server 1000, client 1006, one mismatch', async () => {
    await runScenario('swallow', `http://127.0.0.1:${swallower.port}`, metrics);
    expect(swallower.swallowed).toBe(1);
  });

  it('the page navigates away: the page reports it went away, the server recorded 1001 from the client', async () => {
    await runScenario('navigate', base, metrics);
  });
});
