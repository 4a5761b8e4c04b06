import type { FabricConfig } from '../config/schema.js';
import type { ResolvedComponent } from '../plugins/resolve.js';

/**
 * Collectors whose plugin reads only its own host's data (`locality: 'host'`, e.g. log files) but
 * that are not pinned: in a cluster they would move to instances without that data. A warning, not
 * an error: on shared storage (the same files mounted on every instance) moving them is right.
 */
export function unpinnedHostCollectors(config: FabricConfig, components: readonly ResolvedComponent[]): string[] {
  if (!config.cluster) return [];
  const pinned = config.cluster.pinned;
  return components
    .filter((c) => c.section === 'collectors' && !c.validateInWorker && c.loaded.definition.locality === 'host' && pinned[c.config.id] === undefined)
    .map(
      (c) =>
        `collector "${c.config.id}" (${c.loaded.pkg.name}) reads files of the host it runs on but is not pinned: in the cluster it can move to an instance without them. ` +
        `Pin it (cluster.pinned: { ${c.config.id}: <instance id> }), unless every instance sees the same files`,
    );
}
