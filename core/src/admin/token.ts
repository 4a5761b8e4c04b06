import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { MIN_TOKEN_LENGTH } from './config.js';
import { FabricError } from '../errors/fabric-error.js';
import { writeFileAtomic } from '../state/atomic.js';

export const TOKEN_FILE_NAME = 'admin-token';
export const URL_FILE_NAME = 'admin-url';
export const TOKEN_ENV = 'FABRIC_ADMIN_TOKEN';

export interface ResolvedToken {
  token: string;
  /** Where the token came from, for the start-up log line (never the token itself). */
  source: 'config' | 'env' | 'file' | 'generated';
  /** Set when the token lives in (or was just written to) <stateDir>/admin-token. */
  tokenFile?: string;
  /** Why a stored token was not reused (e.g. its file was readable by others), for a warning. */
  discarded?: string;
}

export class TokenConfigError extends FabricError {
  constructor(message: string) {
    super('ADMIN_TOKEN_INVALID', message);
  }
}

function checkStrength(token: string, where: string): string {
  const trimmed = token.trim();
  if (trimmed.length < MIN_TOKEN_LENGTH) {
    throw new TokenConfigError(
      `${where} is ${trimmed.length} characters long; the admin API needs at least ${MIN_TOKEN_LENGTH}. ` +
        'Generate one with `openssl rand -hex 32`, or unset it to have Reactive Fabric generate and store one.',
    );
  }
  return trimmed;
}

/**
 * Decide the admin token: `admin.token` from config, else FABRIC_ADMIN_TOKEN, else the one stored
 * in <stateDir>/admin-token by an earlier start (so the CLI keeps working across restarts), else a
 * new random one written there with mode 0600. The API is never served without a token.
 */
export async function resolveToken(configToken: string | undefined, env: NodeJS.ProcessEnv, stateDir: string): Promise<ResolvedToken> {
  if (configToken !== undefined && configToken !== '') return { token: checkStrength(configToken, 'admin.token'), source: 'config' };
  const fromEnv = env[TOKEN_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { token: checkStrength(fromEnv, `the ${TOKEN_ENV} environment variable`), source: 'env' };

  const tokenFile = path.resolve(stateDir, TOKEN_FILE_NAME);
  const existing = await readTokenFile(tokenFile);
  if (existing.token !== undefined) return { token: existing.token, source: 'file', tokenFile };

  const token = randomBytes(32).toString('base64url');
  try {
    await fs.mkdir(path.dirname(tokenFile), { recursive: true, mode: 0o700 });
    // Atomic, so a reader never sees a half-written token; 0600 because it is a credential.
    await writeFileAtomic(tokenFile, `${token}\n`, 0o600);
  } catch (err) {
    throw new TokenConfigError(
      `cannot store a generated admin token in ${tokenFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ` +
        'make state_dir writable, or set admin.token or FABRIC_ADMIN_TOKEN',
    );
  }
  return { token, source: 'generated', tokenFile, ...(existing.discarded ? { discarded: existing.discarded } : {}) };
}

async function readTokenFile(file: string): Promise<{ token?: string; discarded?: string }> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return {};
    throw new TokenConfigError(`cannot read the admin token file ${file} (${code ?? (err as Error).message}): fix its permissions, or set admin.token or FABRIC_ADMIN_TOKEN`);
  }
  try {
    const stat = await handle.stat();
    // Someone else could have read a token that was readable by group or others: do not keep using it.
    if ((stat.mode & 0o077) !== 0) return { discarded: `${file} was readable by other users (mode ${(stat.mode & 0o777).toString(8)}); replaced it with a new token` };
    const text = (await handle.readFile('utf8')).trim();
    return text.length >= MIN_TOKEN_LENGTH ? { token: text } : { discarded: `${file} held no usable token; replaced it` };
  } finally {
    await handle.close();
  }
}

/** Compares a presented token with the expected one in time independent of where they differ (and of their lengths). */
export function tokenMatcher(expected: string): (presented: string) => boolean {
  // Hashing first gives both sides the same length, so timingSafeEqual never short-circuits on it.
  const expectedHash = hash('sha256', expected, 'buffer');
  return (presented) => timingSafeEqual(hash('sha256', presented, 'buffer'), expectedHash);
}

/** Extract the token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match?.[1];
}
