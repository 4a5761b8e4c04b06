import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SelfSignedCert {
  dir: string;
  /** PEM files: the certificate doubles as its own CA. */
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  remove(): void;
}

/**
 * A throw-away self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI
 * (EC P-256: generated in milliseconds). Tests that need a TLS backend (or a client
 * certificate) use it instead of checking key material into the repository.
 */
export function selfSignedCert(commonName = 'localhost'): SelfSignedCert {
  const dir = mkdtempSync(path.join(tmpdir(), 'fabric-tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'pipe', timeout: 30_000 },
  );
  return { dir, certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
