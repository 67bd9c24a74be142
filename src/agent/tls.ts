/**
 * --tls-cert / --tls-key: the agent's WebSocket listener serves wss:// itself.
 * The pair is checked when the configuration is read (a missing, unreadable
 * or invalid file is an error naming it), polled for changes while the agent
 * runs (cert-manager and kubelet replace a mounted Secret's files by swapping
 * a symlink, which file watches miss: polling the content sees every way of
 * replacing them), and swapped in with setSecureContext for new connections
 * only. A new pair that does not load keeps the one in use and is logged
 * once. TLS handshakes that fail are counted as upgrade failures with reason
 * tls_handshake.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { createSecureContext, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { CloseRecorder } from '../recorder/recorder.js';
import type { Logger } from './log.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** How the user spelled each one (`--tls-cert` or the variable name), for errors. */
  certSource: string;
  keySource: string;
  /** Milliseconds between checks for a new pair; 0 = never reload. */
  checkIntervalMs: number;
}

/** What the https server is created with. */
export interface TlsPair {
  cert: Buffer;
  key: Buffer;
}

/** A pair that loaded, with what the logs say of its certificate. */
export interface LoadedPair extends TlsPair {
  fingerprint256: string;
  validTo: string;
}

/** A pair re-read this many times in a row while its files keep changing is left to the next check. */
const MAX_READ_ATTEMPTS = 3;

interface Given {
  value: string;
  source: string;
}

/**
 * Both flags or neither; each file must load. Throws an Error whose message
 * names the flag (or variable) and the file.
 */
export function tlsFiles(cert: Given | undefined, key: Given | undefined, checkIntervalMs: number): TlsFiles | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    const [given, missing] = cert === undefined ? [key as Given, '--tls-cert'] : [cert, '--tls-key'];
    throw new Error(`${given.source}: needs ${missing} as well (give both the certificate and its private key, or neither)`);
  }
  for (const g of [cert, key]) if (g.value.trim() === '') throw new Error(`${g.source}: expected a file path`);
  const files = { certFile: cert.value, keyFile: key.value, certSource: cert.source, keySource: key.source, checkIntervalMs };
  checkPair(files, readPem(files.certSource, files.certFile), readPem(files.keySource, files.keyFile));
  return files;
}

function readPem(source: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${source}: ${file}: cannot read it (${(err as Error).message})`, { cause: err });
  }
}

/** Whether cert and key are a PEM certificate and its private key; throws a message naming the file at fault. */
function checkPair(files: TlsFiles, cert: Buffer, key: Buffer): LoadedPair {
  const { certSource, certFile, keySource, keyFile } = files;
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${certSource}: ${certFile}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`${certSource}: ${certFile}: not a valid PEM certificate (${(err as Error).message})`, { cause: err });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new Error(`${keySource}: ${keyFile}: not a valid PEM private key (${(err as Error).message})`, { cause: err });
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new Error(`${keySource}: ${keyFile}: this private key does not belong to the certificate in ${certSource}: ${certFile}`);
  }
  try {
    // What the https server will do with them: the chain and key as OpenSSL takes them.
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`${certSource}: ${certFile} and ${keySource}: ${keyFile}: OpenSSL refused the pair (${(err as Error).message})`, { cause: err });
  }
  return { cert, key, fingerprint256: x509.fingerprint256, validTo: x509.validTo };
}

/** Reads the pair for the https server (at start; the files were checked with the configuration). */
export function loadTlsPair(files: TlsFiles): LoadedPair {
  return checkPair(files, readPem(files.certSource, files.certFile), readPem(files.keySource, files.keyFile));
}

export interface TlsWatch {
  /** Check the files now (the poll does this every checkIntervalMs); resolves once done. */
  check(): Promise<void>;
  stop(): void;
}

/**
 * The raw TCP socket under a TLS socket that failed its handshake. Node keeps
 * it as _parent; without it every failure counts.
 */
function rawBytesRead(socket: TLSSocket): number | undefined {
  return (socket as TLSSocket & { _parent?: Socket })._parent?.bytesRead;
}

/**
 * Count failed handshakes on `server` (an https server) and poll the files
 * for a new pair. A connection that closed without sending a byte is not a
 * handshake attempt (TCP health checks and port probes do that) and is not
 * counted.
 */
export function watchTls(server: Server, files: TlsFiles, initial: LoadedPair, recorder: CloseRecorder, logger: Logger): TlsWatch {
  const tlsServer = server as unknown as TlsServer;
  logger.info('tls certificate loaded', { certFile: files.certFile, fingerprint256: initial.fingerprint256, validTo: initial.validTo });
  tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    if (rawBytesRead(socket) === 0) {
      logger.debug('tls connection sent nothing; not counted', { err });
      return;
    }
    recorder.recordUpgradeFailure('tls_handshake');
    logger.debug('tls handshake failed', { err });
  });

  let current: TlsPair = initial;
  /** The last pair that did not load, so it is logged once and not retried until a file changes again. */
  let rejected: TlsPair | undefined;
  let readError: string | undefined;
  let running: Promise<void> | undefined;
  const same = (a: TlsPair | undefined, cert: Buffer, key: Buffer): boolean => a !== undefined && a.cert.equals(cert) && a.key.equals(key);

  const readBoth = async (): Promise<TlsPair> => {
    const [cert, key] = await Promise.all([readFile(files.certFile), readFile(files.keyFile)]);
    return { cert, key };
  };

  const checkOnce = async (): Promise<void> => {
    let attempt: TlsPair;
    try {
      attempt = await readBoth();
    } catch (err) {
      // Mid-swap a file may be briefly missing; the next check sees the new one. Logged once per distinct error.
      const message = (err as Error).message;
      if (message !== readError)
        logger.error('tls certificate reload failed; keeping the one in use', { err: new Error(`cannot read the new pair: ${message}`) });
      readError = message;
      return;
    }
    readError = undefined;
    for (let i = 1; ; i++) {
      if (same(current, attempt.cert, attempt.key)) {
        rejected = undefined;
        return;
      }
      if (same(rejected, attempt.cert, attempt.key)) return;
      let loaded: LoadedPair;
      try {
        loaded = checkPair(files, attempt.cert, attempt.key);
      } catch (err) {
        // Read between the replacement of one file and of the other? Read again while the files keep moving.
        const again = await readBoth().catch(() => attempt);
        if (i < MAX_READ_ATTEMPTS && !same(attempt, again.cert, again.key)) {
          attempt = again;
          continue;
        }
        rejected = attempt;
        logger.error('tls certificate reload failed; keeping the one in use', { err, certFile: files.certFile, keyFile: files.keyFile });
        return;
      }
      try {
        tlsServer.setSecureContext({ cert: loaded.cert, key: loaded.key });
      } catch (err) {
        rejected = attempt;
        logger.error('tls certificate reload failed; keeping the one in use', { err, certFile: files.certFile, keyFile: files.keyFile });
        return;
      }
      current = loaded;
      rejected = undefined;
      logger.info('tls certificate reloaded', { certFile: files.certFile, fingerprint256: loaded.fingerprint256, validTo: loaded.validTo });
      return;
    }
  };

  const check = (): Promise<void> => {
    running ??= checkOnce().finally(() => (running = undefined));
    return running;
  };
  const timer = files.checkIntervalMs > 0 ? setInterval(() => void check(), files.checkIntervalMs) : undefined;
  timer?.unref();
  return {
    check,
    stop: () => clearInterval(timer),
  };
}
