import WebSocket from 'ws';

/**
 * Opens a connection to the echo endpoint at `address`, has one message echoed,
 * then ends it as asked: with a close code, dropped without a close frame
 * (recorded as 1006), or held open (the socket is returned; the caller ends it).
 */
export async function echoConnection(address: string, end: number | 'drop' | 'hold'): Promise<WebSocket> {
  const ws = new WebSocket(`ws://${address}/`);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connection (${end}) timed out`)), 5000);
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.once('open', () => ws.send('ping'));
    ws.once('message', () => {
      if (end === 'hold') {
        clearTimeout(timer);
        resolve();
        return;
      }
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (end === 'drop') ws.terminate();
      else ws.close(end);
    });
  });
  return ws;
}
