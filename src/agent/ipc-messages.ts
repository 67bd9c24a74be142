/**
 * The `type` of every IPC message between the --workers primary and its
 * workers, in one table so that no two features can pick the same name.
 */
export const MSG = {
  listening: 'ws-close-agent:listening',
  metrics: 'ws-close-agent:metrics',
  metricsReply: 'ws-close-agent:metrics-reply',
  drain: 'ws-close-agent:drain',
  stopped: 'ws-close-agent:stopped',
  reconnectKeyRequest: 'ws-close-agent:reconnect-key-request',
  reconnectKey: 'ws-close-agent:reconnect-key',
  reconnectEvents: 'ws-close-agent:reconnect-events',
  reconnects: 'ws-close-agent:reconnects',
} as const;
