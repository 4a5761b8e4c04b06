import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterSetupError } from './errors.js';

type AbortedFilter = (input: {
  messages: Array<{ offset: string; key: Buffer | null; batchContext: { producerId: string; inTransaction: boolean } }>;
  abortedTransactions: Array<{ producerId: string; firstOffset: string }>;
}) => unknown[];

/**
 * Whether `filter` (kafkajs' read_committed filter) hides a transaction that began before another
 * one but was aborted after it. The broker lists aborted transactions in abort-marker order, and
 * kafkajs 2.2.4 as published walks that list as if it were in first-offset order, one entry per
 * record: such a transaction's records reach read_committed readers. In a cluster that is what a
 * stalled owner's transaction looks like once the new owner fences it.
 */
export function hidesAbortedOutOfOrder(filter: AbortedFilter): boolean {
  const record = (offset: string, producerId: string) => ({ offset, key: null, batchContext: { producerId, inTransaction: true } });
  const kept = filter({
    messages: [record('0', '1'), record('1', '2')],
    abortedTransactions: [
      { producerId: '2', firstOffset: '1' },
      { producerId: '1', firstOffset: '0' },
    ],
  });
  return kept.length === 0;
}

/** The fix, shipped with core (the workspace applies it through pnpm's patchedDependencies). */
export const KAFKAJS_PATCH = fileURLToPath(new URL('../../patches/kafkajs@2.2.4.patch', import.meta.url));

/**
 * Cluster mode reads its checkpoints read_committed through kafkajs: an aborted position shown to
 * a new owner would start it past events that were never published. An install without the fix
 * (core installed by plain npm, where the workspace's patch does not apply) is refused here, with
 * the command that applies the patch shipped in core.
 */
export function assertKafkajsHidesAbortedRecords(load: () => AbortedFilter = loadInstalledFilter): void {
  let ok: boolean;
  try {
    ok = hidesAbortedOutOfOrder(load());
  } catch {
    ok = false;
  }
  if (!ok)
    throw new ClusterSetupError(
      'the installed kafkajs shows records of aborted transactions to read_committed readers when transactions abort in another order than they began (kafkajs 2.2.4 as published); ' +
        `cluster mode would then read positions that were never committed. Apply the fix shipped with Reactive Fabric: patch -p1 -d ${kafkajsDir()} < ${KAFKAJS_PATCH} ` +
        '(pnpm patchedDependencies or patch-package keep it across installs; the pnpm workspace applies it itself)',
    );
}

function kafkajsDir(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('kafkajs/package.json'));
  } catch {
    return 'node_modules/kafkajs';
  }
}

function loadInstalledFilter(): AbortedFilter {
  const require = createRequire(import.meta.url);
  return require(require.resolve('kafkajs/src/consumer/filterAbortedMessages.js')) as AbortedFilter;
}
