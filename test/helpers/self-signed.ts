import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * A self-signed P-256 certificate made by openssl, written to `dir` as
 * `name`.crt and `name`.key: `subject` is its CN, `altName` its
 * subjectAltName (`IP:127.0.0.1`, `DNS:localhost`).
 */
export function selfSignedCert(dir: string, name: string, subject: string, altName: string, days = 2): CertFiles {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(days),
      '-subj',
      `/CN=${subject}`,
      '-addext',
      `subjectAltName=${altName}`,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
