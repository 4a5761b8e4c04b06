import type { AdminApp, RouteContext } from '../context.js';
import { ClusterSchema, errors } from '../schemas.js';

/** The cluster as this instance sees it; every member answers the same (docs/cluster.md). */
export function clusterRoutes(app: AdminApp, { host }: RouteContext): void {
  app.get(
    '/cluster',
    {
      schema: {
        operationId: 'cluster',
        tags: ['system'],
        summary: "Cluster members, their slots and collectors, who runs each collector, and the group's generation",
        response: { 200: ClusterSchema, ...errors(401) },
      },
    },
    async () => {
      const status = host.cluster?.();
      if (!status) return { enabled: false, generation: 0, members: [], collectors: [], ownedSlots: [] };
      return { enabled: true, ...status };
    },
  );
}
