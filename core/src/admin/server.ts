import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type pino from 'pino';
import type { FabricHost } from '../host.js';
import { buildAdminApp, resolveAdminConfig } from './app.js';
import type { AdminConfig } from './config.js';
import { URL_FILE_NAME, resolveToken } from './token.js';
import { registerSecret } from '../logging.js';
import { writeFileAtomic } from '../state/atomic.js';

export interface AdminServerOptions {
  logger: pino.Logger;
  /** The instance's state directory (already resolved); the generated token and the URL are written there. */
  stateDir: string;
  env?: NodeJS.ProcessEnv;
}

export interface AdminServer {
  url: string;
  token: string;
  /** Where the token is stored, when it was generated (or reused from an earlier start). */
  tokenFile?: string;
  close(): Promise<void>;
  app: FastifyInstance;
}

/**
 * Resolve the token, build the app and listen on admin.host:admin.port. Writes the URL to
 * <stateDir>/admin-url so `fabric status` finds an instance bound to a picked port.
 */
export async function startAdminServer(host: FabricHost, adminConfig: Partial<AdminConfig> | AdminConfig, opts: AdminServerOptions): Promise<AdminServer> {
  const config = resolveAdminConfig(adminConfig);
  const log = opts.logger.child({ component: 'admin-api' });
  const resolved = await resolveToken(config.token, opts.env ?? process.env, opts.stateDir);
  // Redacted by value from every log line of the process, wherever it might end up.
  registerSecret(resolved.token);
  if (resolved.discarded) log.warn(resolved.discarded);
  if (resolved.source === 'generated') log.info({ tokenFile: resolved.tokenFile }, `admin API token generated and stored in ${resolved.tokenFile} (mode 0600)`);
  else if (resolved.source === 'file') log.info({ tokenFile: resolved.tokenFile }, `admin API token read from ${resolved.tokenFile}`);
  else log.info(`admin API token taken from ${resolved.source === 'env' ? 'FABRIC_ADMIN_TOKEN' : 'admin.token'}`);

  const app = await buildAdminApp(host, config, { logger: opts.logger, token: resolved.token });
  let address: string;
  try {
    address = await app.listen({ host: config.host, port: config.port, listenTextResolver: () => '' });
  } catch (err) {
    await app.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new Error(`admin API: ${config.host}:${config.port} is already in use; set admin.port to a free port (0 picks one)`, { cause: err });
    if (code === 'EADDRNOTAVAIL')
      throw new Error(`admin API: cannot bind admin.host "${config.host}" on this machine; use 127.0.0.1 or an address of a local interface`, { cause: err });
    throw err;
  }
  const url = address;
  const urlFile = path.resolve(opts.stateDir, URL_FILE_NAME);
  try {
    await fs.mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
    // Atomic: `fabric status` may read it at any moment and must not see half a URL.
    await writeFileAtomic(urlFile, `${url}\n`, 0o644);
  } catch (err) {
    // Only a convenience for the CLI: serve anyway.
    log.warn({ urlFile, code: (err as NodeJS.ErrnoException).code }, `could not write ${urlFile}; fabric status needs --url ${url}`);
  }
  log.info({ url, docs: `${url}/docs` }, `admin API listening on ${url}`);

  let closing: Promise<void> | undefined;
  return {
    url,
    token: resolved.token,
    ...(resolved.tokenFile ? { tokenFile: resolved.tokenFile } : {}),
    app: app as unknown as FastifyInstance,
    close() {
      closing ??= (async () => {
        await app.close();
        // Only remove the URL file if it still points at us (another instance may have started since).
        const current = await fs.readFile(urlFile, 'utf8').catch(() => '');
        if (current.trim() === url) await fs.rm(urlFile, { force: true });
      })();
      return closing;
    },
  };
}
