import type { Logger } from 'pino';
import type { ConfigControl } from '../host.js';

/**
 * SIGHUP re-reads the config file and the overlay, as `POST /reload` does (the daemon
 * convention: `systemctl reload`, `kill -HUP`). A refused config is logged with every problem
 * and the running config stays. Returns the function that stops listening.
 */
export function reloadOnSighup(control: ConfigControl | undefined, logger: Logger): () => void {
  if (!control) return () => undefined;
  const onHup = (): void => {
    logger.info('SIGHUP: reloading the config');
    control.reload().then(
      (report) => logger.info({ ...report }, 'SIGHUP reload applied'),
      (err: Error & { problems?: unknown }) => logger.error({ err: err.message, problems: err.problems }, 'SIGHUP reload refused; the running config stays'),
    );
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}
