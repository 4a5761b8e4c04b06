import { isDeepStrictEqual } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPluginPackage, RefusedEvent, WorkerPlugin, type WorkerLimits } from '@reactive-fabric/core/runtime';
import type { Checkpoint } from '@reactive-fabric/core';
import { validateConfig } from '../checks/config.js';
import { findLeakedSecrets } from '../checks/secrets.js';
import { pollContractProblems } from '../host.js';
import { expectNone, fail } from './context.js';
import type { SuiteContext } from './context.js';
import type { ConformanceCheck } from './types.js';

/**
 * The host runs every source in its own worker thread by default: the package is imported
 * there, events and checkpoints cross as JSON, and anything thrown outside a call ends the worker.
 * These checks need the built package, so they run only when options.packageJson locates it.
 */
export function isolationChecks(s: SuiteContext, location: string | URL): ConformanceCheck[] {
  const { plugin, options, timeoutMs, definitionOk } = s;
  const limits: WorkerLimits = { maxHeapMb: 512, unresponsiveMs: Math.max(5000, timeoutMs), heartbeatMs: 250, maxBatchBytes: 33_554_432, createTimeoutMs: timeoutMs };
  const entry = (): string => readPluginPackage(dirname(location instanceof URL ? fileURLToPath(location) : location)).entry;
  return [
    s.check('isolation', 'imports in a worker thread without exiting, throwing or blocking, and exports the same definition there', async () => {
      definitionOk();
      let data;
      try {
        data = await WorkerPlugin.inspect(entry(), limits);
      } catch (err) {
        fail(
          `importing the package in a worker failed (${(err as { code?: string }).code ?? 'ERROR'}): ${(err as Error).message}; build the package, and do no work at import time (no process.exit, no timers, no network)`,
        );
      }
      const problems: string[] = [];
      if (data.name !== plugin.name)
        problems.push(`name in the worker is ${JSON.stringify(data.name)}, here ${JSON.stringify(plugin.name)}: does package.json point at the built entry of this plugin?`);
      if (data.kind !== plugin.kind) problems.push(`kind in the worker is ${JSON.stringify(data.kind)}, here ${JSON.stringify(plugin.kind)}`);
      if (!isDeepStrictEqual(data.configSchema, JSON.parse(JSON.stringify(plugin.configSchema))))
        problems.push('the config schema read in the worker differs from this one (rebuild the package?)');
      expectNone('the package imported in a worker does not match the definition under test', problems);
    }),
    s.check(
      'isolation',
      'polls the valid config from its own worker thread: every batch crosses as JSON within maxEvents, and the worker survives (no uncaught error, unhandled rejection or process.exit)',
      async () => {
        definitionOk();
        const { value } = validateConfig(plugin.configSchema, s.config);
        let lost: Error | undefined;
        const logs: unknown[] = [];
        const log = (obj: unknown) => logs.push(obj);
        const stateDir = mkdtempSync(join(tmpdir(), 'conformance-worker-'));
        const ws = await WorkerPlugin.create({
          entry: entry(),
          config: value,
          collectorId: 'conformance',
          stateDir,
          logger: { debug: log, info: log, warn: log, error: log },
          limits,
          onLost: (e) => (lost = e),
        }).catch((err: Error) => {
          rmSync(stateDir, { recursive: true, force: true });
          return fail(`create() in a worker failed (${(err as { code?: string }).code ?? 'ERROR'}): ${err.message}`);
        });
        let events = 0;
        try {
          await ws.start();
          let checkpoint: Checkpoint | undefined;
          for (let i = 0; i < (options.maxPolls ?? 20); i++) {
            const r = await ws.poll({ checkpoint, signal: new AbortController().signal, maxEvents: 100 });
            const refused = r.events.flatMap((e, j) => (e instanceof RefusedEvent ? [`events[${j}]: ${e.code}: ${e.reason}`] : []));
            expectNone(`poll #${i + 1}: events that cannot cross to the host as JSON (the host dead-letters them)`, refused);
            expectNone(`poll #${i + 1} in the worker broke the contract`, pollContractProblems(r, 100));
            events += r.events.length;
            checkpoint = r.checkpoint;
            if (r.events.length === 0 && !r.hasMore) break;
          }
          // A timer or promise left behind by a poll fails here, as it would kill the worker in the host.
          await new Promise((r) => setTimeout(r, 200));
        } catch (err) {
          s.thrown.push(err);
          fail(`polling in the worker failed (${(err as { code?: string }).code ?? 'ERROR'}): ${(err as Error).message}`);
        } finally {
          await ws.stop();
          rmSync(stateDir, { recursive: true, force: true });
        }
        if (lost) fail(`the plugin's worker was lost (${(lost as { code?: string }).code}): ${lost.message}`);
        if (events < (options.minEvents ?? 1)) fail(`polling in the worker yielded ${events} events; inline the valid config yields at least ${options.minEvents ?? 1}`);
        expectNone('a secret reached a log record written in the worker', findLeakedSecrets(s.secrets, { 'worker logs': logs }));
      },
    ),
  ];
}
