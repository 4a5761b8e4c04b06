import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { PluginHandle } from '../collectors/plugin-handle.js';
import { isolationOf } from '../isolation/policy.js';
import { FabricMetrics } from '../metrics/fabric-metrics.js';
import type { ResolvedComponent } from '../plugins/resolve.js';
import { probeSink } from '../sinks/probe.js';
import { redactSecrets } from '../logging.js';

/** One part of the config and whether it answered. */
export interface PartCheck {
  /** "collector auth-log", "enricher vt", "sink kafka". */
  part: string;
  ok: boolean;
  /** What was found, or why it failed: one line. */
  detail: string;
}

/** `work` under a deadline; the signal it gets is aborted at the deadline so it can let go of sockets. */
async function within<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      reject(new Error(`no answer within ${timeoutMs / 1000}s`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(ac.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function oneLine(err: unknown): string {
  return redactSecrets((err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim() || 'failed');
}

/**
 * Create, start and health-check one plugin instance the way its collector would (same isolation),
 * then stop it. Its state folder is a temporary one, so a check leaves the real state untouched.
 */
async function checkComponent(c: ResolvedComponent, loaded: LoadedConfig, timeoutMs: number, logger: Logger): Promise<PartCheck> {
  const part = `${c.section === 'collectors' ? 'collector' : 'enricher'} ${c.config.id}`;
  const stateDir = await mkdtemp(join(tmpdir(), 'fabric-connect-'));
  const handle = new PluginHandle({
    collectorId: c.config.id,
    loaded: c.loaded,
    pluginConfig: c.pluginConfig,
    callTimeoutMs: timeoutMs,
    metrics: new FabricMetrics(),
    logger,
    isolation: isolationOf(c.config, loaded.config.orchestrator),
    ...(c.validateInWorker ? { validateConfigInWorker: true } : {}),
    onLost: () => undefined,
  });
  const lifetime = new AbortController();
  try {
    const health = await within(timeoutMs, async () => {
      await handle.start({ collectorId: c.config.id, logger, stateDir, signal: lifetime.signal, configDir: loaded.dir });
      return handle.healthCheck();
    });
    const target = handle.description.target ?? handle.description.backend;
    if (!health) return { part, ok: true, detail: `started (${target}; the plugin has no health check)` };
    // Degraded counts as a failure here: the point of --connect is to learn before start that a part does not answer well.
    if (health.status !== 'healthy') return { part, ok: false, detail: `${health.status} (${target}): ${redactSecrets(health.reason ?? health.code ?? 'no reason given')}` };
    return { part, ok: true, detail: `healthy (${target})${health.reason ? `: ${redactSecrets(health.reason)}` : ''}` };
  } catch (err) {
    return { part, ok: false, detail: oneLine(err) };
  } finally {
    lifetime.abort();
    // A plugin stuck in start() must not hold the command: stop is bounded too.
    await within(Math.min(timeoutMs, 5000), () => handle.stop()).catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * `fabric validate --connect`: every enabled source and enricher, then the sink, each checked on its
 * own under `timeoutMs`, in parallel. One result per part, in config order.
 */
export async function checkConnections(loaded: LoadedConfig, components: readonly ResolvedComponent[], opts: { timeoutMs: number; logger: Logger }): Promise<PartCheck[]> {
  const sink = within(opts.timeoutMs, (signal) => probeSink(loaded.config.sink, { logger: opts.logger, configDir: loaded.dir, stateDir: loaded.stateDir }, signal)).then(
    (detail): PartCheck => ({ part: `sink ${loaded.config.sink.type}`, ok: true, detail }),
    (err: unknown): PartCheck => ({ part: `sink ${loaded.config.sink.type}`, ok: false, detail: oneLine(err) }),
  );
  return Promise.all([...components.map((c) => checkComponent(c, loaded, opts.timeoutMs, opts.logger)), sink]);
}
