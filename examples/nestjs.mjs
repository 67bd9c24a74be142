// NestJS (@nestjs/websockets) with the ws adapter (@nestjs/platform-ws) or the
// Socket.IO adapter (@nestjs/platform-socket.io). The gateway's afterInit(server)
// receives the adapter's server: instrument(server) for ws,
// instrumentSocketIo(server) for Socket.IO. Written without decorator syntax
// so that it runs as plain JavaScript; in TypeScript use @WebSocketGateway()
// and @SubscribeMessage() as usual.
//   node examples/nestjs.mjs [ws|socket.io]   (after npm run build)
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsAdapter } from '@nestjs/platform-ws';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Registry } from 'prom-client';
import { instrument, instrumentSocketIo, metricsHandler } from 'ws-close-agent';

export async function createNestApp({ adapter = 'ws', registry = new Registry() } = {}) {
  class EventsGateway {
    afterInit(server) {
      if (adapter === 'ws') instrument(server, { registry, codes: { 4001: 'AUTH_EXPIRED' } });
      else instrumentSocketIo(server, { registry });
    }
    echo(client, data) {
      return { event: 'echo', data };
    }
    logout(client) {
      if (adapter === 'ws') client.close(4001, 'logged out');
      else client.disconnect(true);
    }
  }
  for (const name of ['echo', 'logout']) {
    SubscribeMessage(name)(EventsGateway.prototype, name, Object.getOwnPropertyDescriptor(EventsGateway.prototype, name));
  }
  WebSocketGateway(adapter === 'ws' ? { path: '/ws' } : {})(EventsGateway);
  class AppModule {}
  Module({ providers: [EventsGateway] })(AppModule);

  const app = await NestFactory.create(AppModule, { logger: false });
  app.useWebSocketAdapter(adapter === 'ws' ? new WsAdapter(app) : new IoAdapter(app));
  app.getHttpAdapter().get('/metrics', metricsHandler(registry));
  return { app, registry };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { app } = await createNestApp({ adapter: process.argv[2] ?? 'ws' });
  await app.listen(8080);
  console.log('NestJS gateway on ws://localhost:8080/ws (ws) or Socket.IO on :8080, metrics at http://localhost:8080/metrics');
}
