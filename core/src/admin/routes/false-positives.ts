import type { AdminApp, RouteContext } from '../context.js';
import { AdminErrorCodes, ApiError } from '../errors.js';
import { indicatorProblem } from '../indicator-check.js';
import { FalsePositiveBody, FalsePositiveListSchema, FalsePositiveParams, FalsePositiveSchema, errors } from '../schemas.js';

export function falsePositiveRoutes(app: AdminApp, { host, mutating }: RouteContext): void {
  app.get(
    '/false-positives',
    {
      schema: {
        operationId: 'listFalsePositives',
        tags: ['false-positives'],
        summary: 'Indicators an analyst marked as false positives (excluded from verdicts)',
        description: '400 (INVALID_REQUEST) when this instance does not track false positives (enrichment disabled).',
        response: { 200: FalsePositiveListSchema, ...errors(400, 401) },
      },
    },
    async () => ({ falsePositives: await host.listFalsePositives() }),
  );

  app.post(
    '/false-positives',
    {
      config: mutating,
      schema: {
        operationId: 'markFalsePositive',
        tags: ['false-positives'],
        summary: 'Mark an indicator as a false positive',
        body: FalsePositiveBody,
        response: { 201: FalsePositiveSchema, ...errors(400, 401, 413, 415, 429) },
      },
    },
    async (request, reply) => {
      const { indicator, reason } = request.body;
      const problem = indicatorProblem(indicator);
      if (problem)
        throw new ApiError(400, AdminErrorCodes.VALIDATION_FAILED, `body.indicator.value: ${problem}`, { details: [{ path: 'body/indicator/value', message: problem }] });
      request.log.info({ audit: 'mark-false-positive', indicatorType: indicator.type }, 'false positive marked through the admin API');
      const marked = await host.markFalsePositive(indicator, reason);
      return reply.code(201).send(marked);
    },
  );

  app.delete(
    '/false-positives/:type/:value',
    {
      config: mutating,
      schema: {
        operationId: 'unmarkFalsePositive',
        tags: ['false-positives'],
        summary: 'Remove a false-positive mark (URL-encode the value)',
        params: FalsePositiveParams,
        response: { 204: { type: 'null', description: 'Mark removed' }, ...errors(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      const { type, value } = request.params;
      request.log.info({ audit: 'unmark-false-positive', indicatorType: type }, 'false positive unmarked through the admin API');
      const removed = await host.unmarkFalsePositive({ type, value });
      if (!removed) throw new ApiError(404, AdminErrorCodes.FALSE_POSITIVE_NOT_FOUND, `${type} "${value}" is not marked as a false positive: GET /false-positives lists the marks`);
      return reply.code(204).send(null);
    },
  );
}
