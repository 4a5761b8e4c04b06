import { HostError, type CollectorCommand, type CollectorState, type CollectorSummary, type FabricHost } from '../../host.js';
import type { AdminApp, RouteContext } from '../context.js';
import { AdminErrorCodes, ApiError, notFound } from '../errors.js';
import { redactDeep } from '../../logging.js';
import {
  BulkRestartQuery,
  BulkRestartSchema,
  COMMANDS,
  CollectorDetailSchema,
  CollectorIdParam,
  CollectorListQuery,
  CollectorListSchema,
  CommandQuery,
  CommandResultSchema,
  MachineSchema,
  TransitionsQuery,
  TransitionsSchema,
  errors,
} from '../schemas.js';

const COMMAND_SUMMARY: Record<CollectorCommand, string> = {
  start: 'Start a stopped (or never started) collector',
  stop: 'Stop a collector: finish the current poll, commit acknowledged checkpoints, release connections',
  pause: 'Pause polling without releasing the collector',
  resume: 'Resume a paused collector',
  restart: 'Stop then start a collector (also recovers a failed one)',
};

/**
 * States in which a command has nothing left to do. Like Kafka Connect, asking again is a
 * success (202 with the current state), not a conflict: scripts and retries need not read the
 * state first. `restart` always acts.
 */
const ALREADY: Record<CollectorCommand, ReadonlySet<CollectorState>> = {
  start: new Set(['starting', 'running', 'degraded']),
  stop: new Set(['stopping', 'stopped']),
  pause: new Set(['paused']),
  resume: new Set(['running', 'degraded']),
  restart: new Set(),
};

/** States a collector passes through on its own; `?wait=` waits for it to leave them. */
const TRANSIENT: ReadonlySet<CollectorState> = new Set(['starting', 'stopping', 'restarting']);

/** The collector's state once it is no longer transient, or its state at the deadline. */
function settle(host: FabricHost, id: string, state: CollectorState, waitSeconds: number): Promise<CollectorState> {
  if (waitSeconds <= 0 || !TRANSIENT.has(state)) return Promise.resolve(state);
  return host.waitForCollector(id, (s) => !TRANSIENT.has(s), waitSeconds * 1000);
}

/** Exactly the declared summary fields, so nothing else a host adds can leave the server. */
function summaryOf(c: CollectorSummary): CollectorSummary {
  return {
    id: c.id,
    plugin: c.plugin,
    pluginVersion: c.pluginVersion,
    kind: c.kind,
    state: c.state,
    since: c.since,
    health: c.health,
    ...(c.lastErrorCode ? { lastErrorCode: c.lastErrorCode } : {}),
  };
}

export function collectorRoutes(app: AdminApp, { host, mutating }: RouteContext): void {
  app.get(
    '/collectors',
    {
      schema: {
        operationId: 'listCollectors',
        tags: ['collectors'],
        summary: 'Every collector with its plugin, state and health',
        querystring: CollectorListQuery,
        response: { 200: CollectorListSchema, ...errors(400, 401) },
      },
    },
    async (request, reply) => {
      const { state, kind } = request.query;
      let collectors: CollectorSummary[] = host.listCollectors();
      if (state !== undefined || kind !== undefined) collectors = collectors.filter((c) => (state === undefined || c.state === state) && (kind === undefined || c.kind === kind));
      // Native JSON.stringify beats the schema-compiled serializer on this string-heavy list (about
      // 20% at 200 collectors, bench/admin-api); summaryOf() keeps the guarantee that only declared
      // fields are sent.
      void reply.serializer(JSON.stringify).type('application/json; charset=utf-8');
      return { collectors: collectors.map(summaryOf) };
    },
  );

  app.get(
    '/collectors/:id',
    {
      schema: {
        operationId: 'getCollector',
        tags: ['collectors'],
        summary: 'One collector: description, metrics, last error, checkpoint, restarts',
        params: CollectorIdParam,
        response: { 200: CollectorDetailSchema, ...errors(400, 401, 404) },
      },
    },
    async (request) => {
      const detail = host.getCollector(request.params.id);
      if (!detail) throw notFound(request.params.id);
      // Descriptions and errors come from plugins: secrets are replaced in the data, before the
      // serializer escapes a quote or backslash in them and a text search would miss them.
      return redactDeep(detail);
    },
  );

  app.get(
    '/collectors/:id/machine',
    {
      schema: {
        operationId: 'getCollectorMachine',
        tags: ['collectors'],
        summary: "The collector's statechart: states, transitions with their events, current state",
        params: CollectorIdParam,
        response: { 200: MachineSchema, ...errors(400, 401, 404) },
      },
    },
    async (request) => {
      const graph = host.machine(request.params.id);
      if (!graph) throw notFound(request.params.id);
      return graph;
    },
  );

  app.get(
    '/collectors/:id/transitions',
    {
      schema: {
        operationId: 'getCollectorTransitions',
        tags: ['collectors'],
        summary: 'Recent state transitions, oldest first, with time, event and reason',
        params: CollectorIdParam,
        querystring: TransitionsQuery,
        response: { 200: TransitionsSchema, ...errors(400, 401, 404) },
      },
    },
    async (request) => {
      const transitions = host.transitions(request.params.id, request.query.limit ?? 100);
      if (!transitions) throw notFound(request.params.id);
      return { id: request.params.id, transitions: redactDeep(transitions) };
    },
  );

  app.post(
    '/collectors/restart',
    {
      config: mutating,
      schema: {
        operationId: 'restartCollectors',
        tags: ['collectors'],
        summary: 'Restart every collector, or with onlyFailed=true every failed one',
        querystring: BulkRestartQuery,
        response: { 200: BulkRestartSchema, ...errors(400, 401, 429) },
      },
    },
    async (request) => {
      const onlyFailed = request.query.onlyFailed === true;
      const targets = host.listCollectors().filter((c) => !onlyFailed || c.state === 'failed');
      request.log.info({ audit: 'restart-collectors', onlyFailed, collectors: targets.map((c) => c.id) }, 'restart requested through the admin API');
      const results = await Promise.all(
        targets.map(async (c) => {
          try {
            const r = await host.command(c.id, 'restart');
            return r.ok ? { id: c.id, ok: true, state: r.state } : { id: c.id, ok: false, state: r.state, reason: r.reason };
          } catch (err) {
            // One collector's failure must not hide the others' results.
            request.log.warn({ err, collector: c.id }, 'restart failed');
            return { id: c.id, ok: false, state: host.getCollector(c.id)?.state ?? c.state, reason: err instanceof HostError ? err.message : 'restart failed; see the server log' };
          }
        }),
      );
      return { results };
    },
  );

  for (const command of COMMANDS) {
    app.post(
      `/collectors/:id/${command}`,
      {
        config: mutating,
        schema: {
          operationId: `${command}Collector`,
          tags: ['collectors'],
          summary: COMMAND_SUMMARY[command],
          description:
            'Answers with the state the collector is in once the command took effect (with ?wait=N, after it left starting/stopping/restarting, ' +
            'at most N seconds); 202 with the current state when the collector is already where the command would take it (a second pause, stop, ' +
            'resume or start changes nothing and is not an error); 409 (TRANSITION_NOT_ALLOWED) when its state machine does not allow the command from the current state.',
          params: CollectorIdParam,
          querystring: CommandQuery,
          response: { 200: CommandResultSchema, 202: CommandResultSchema, ...errors(400, 401, 404, 409, 429) },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const before = host.getCollector(id);
        if (!before) throw notFound(id);
        const routed = await host.routeCommand?.(id, command, (request.query.wait ?? 0) * 1000);
        if (routed) {
          request.log.info({ audit: `${command}-collector`, collector: id, owner: routed.instance }, `${command} requested through the admin API (sent to the cluster)`);
          return reply.code(202).send({ id, command, state: routed.state, ...(routed.instance ? { instance: routed.instance } : {}) });
        }
        if (ALREADY[command].has(before.state)) return reply.code(202).send({ id, command, state: await settle(host, id, before.state, request.query.wait ?? 0) });
        request.log.info({ audit: `${command}-collector`, collector: id, from: before.state }, `${command} requested through the admin API`);
        const result = await host.command(id, command);
        if (!result.ok) {
          const base = `cannot ${command} collector "${id}" while it is ${result.state}`;
          const why = result.reason && !result.reason.startsWith(base) ? `: ${result.reason}` : '';
          throw new ApiError(409, AdminErrorCodes.TRANSITION_NOT_ALLOWED, `${base}${why} (GET /collectors/${id}/machine shows the allowed transitions)`, { state: result.state });
        }
        return { id, command, state: await settle(host, id, result.state, request.query.wait ?? 0) };
      },
    );
  }
}
