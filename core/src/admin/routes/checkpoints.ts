import type { Checkpoint } from '../../plugin-api/index.js';
import { HostError } from '../../host.js';
import type { CheckpointValidationError } from '../../state/checkpoint-store.js';
import type { AdminApp, RouteContext } from '../context.js';
import { AdminErrorCodes, ApiError, notFound } from '../errors.js';
import { CheckpointBody, CheckpointSchema, CollectorIdParam, errors } from '../schemas.js';

function isJson(value: unknown, depth = 0): value is Checkpoint {
  if (depth > 64) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (typeof value === 'object') return Object.values(value as object).every((v) => isJson(v, depth + 1));
  return false;
}

export function checkpointRoutes(app: AdminApp, { host, mutating }: RouteContext): void {
  /**
   * The host decides when a write is safe (no poll can run: stopped, or never started); its
   * CONFLICT becomes a 409 that names the state and the way out.
   */
  const write = async <T>(id: string, action: string, op: () => Promise<T>): Promise<T> => {
    if (!host.getCollector(id)) throw notFound(id);
    try {
      return await op();
    } catch (err) {
      if (!(err instanceof HostError)) throw err;
      if (err.code === 'NOT_FOUND') throw notFound(id);
      if (err.code === 'INVALID' && Array.isArray((err as Partial<CheckpointValidationError>).fields)) {
        throw new ApiError(400, AdminErrorCodes.VALIDATION_FAILED, err.message, {
          details: (err as CheckpointValidationError).fields.map((f) => ({ path: `body.value${f.path === '/' ? '' : f.path}`, message: f.message })),
        });
      }
      if (err.code !== 'CONFLICT') throw err;
      const state = host.getCollector(id)?.state ?? 'unknown';
      throw new ApiError(409, AdminErrorCodes.CHECKPOINT_CONFLICT, `cannot ${action} the checkpoint of collector "${id}" while it is ${state}: POST /collectors/${id}/stop first`, {
        state,
      });
    }
  };

  app.get(
    '/collectors/:id/checkpoint',
    {
      schema: {
        operationId: 'getCheckpoint',
        tags: ['checkpoints'],
        summary: "The collector's last committed checkpoint (absent before its first commit)",
        params: CollectorIdParam,
        response: { 200: CheckpointSchema, ...errors(400, 401, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      if (!host.getCollector(id)) throw notFound(id);
      const summary = await host.getCheckpoint(id);
      return { id, ...summary };
    },
  );

  app.put(
    '/collectors/:id/checkpoint',
    {
      config: mutating,
      schema: {
        operationId: 'setCheckpoint',
        tags: ['checkpoints'],
        summary: 'Replace the stored checkpoint (collector must be stopped)',
        description:
          'The value is the JSON the source plugin stores; read it with GET first to see its shape. A plugin that declares a checkpoint schema refuses other shapes with 400 VALIDATION_FAILED (details name the field). The collector resumes from it on its next start.',
        params: CollectorIdParam,
        body: CheckpointBody,
        response: { 200: CheckpointSchema, ...errors(400, 401, 404, 409, 413, 415, 429) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { value } = request.body;
      if (value === undefined || !isJson(value))
        throw new ApiError(400, AdminErrorCodes.VALIDATION_FAILED, 'body.value must be a JSON value (object, array, string, finite number, boolean or null)');
      const summary = await write(id, 'set', () => host.setCheckpoint(id, value));
      request.log.info({ audit: 'set-checkpoint', collector: id }, 'checkpoint replaced through the admin API');
      return { id, ...summary };
    },
  );

  app.delete(
    '/collectors/:id/checkpoint',
    {
      config: mutating,
      schema: {
        operationId: 'resetCheckpoint',
        tags: ['checkpoints'],
        summary: "Forget the stored checkpoint (collector must be stopped); it restarts from the source's beginning",
        params: CollectorIdParam,
        response: { 204: { type: 'null', description: 'Checkpoint removed' }, ...errors(400, 401, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      await write(id, 'reset', () => host.resetCheckpoint(id));
      request.log.info({ audit: 'reset-checkpoint', collector: id }, 'checkpoint reset through the admin API');
      return reply.code(204).send(null);
    },
  );
}
