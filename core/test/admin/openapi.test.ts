import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { standardHost } from './fake-host.js';
import { SecretAudit, TOKEN, testApi } from './harness.js';
import type { TestApi } from './harness.js';

type Operation = {
  operationId?: string;
  security?: unknown[];
  parameters?: Array<{ in: string; name: string; required?: boolean }>;
  responses: Record<string, unknown>;
  requestBody?: unknown;
  summary?: string;
};
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> } };

const audit = new SecretAudit();
let api: TestApi;
let doc: Doc;

beforeAll(async () => {
  api = await testApi(standardHost(), audit);
  const res = await api.call({ url: '/openapi.json', auth: false });
  expect(res.statusCode).toBe(200);
  doc = res.json();
});
afterAll(async () => {
  await api.app.close();
  audit.assertNoneOf([TOKEN]);
});

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document whose $refs all resolve', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as object);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(() => validator.resolveRefs()).not.toThrow();
  });

  it('describes every route of the admin API', () => {
    const ops = Object.entries(doc.paths).flatMap(([p, byMethod]) => Object.keys(byMethod).map((m) => `${m.toUpperCase()} ${p}`));
    expect(ops.sort()).toEqual(
      [
        'GET /health',
        'GET /ready',
        'GET /metrics',
        'GET /cluster',
        'GET /stats',
        'GET /events',
        'GET /collectors',
        'GET /collectors/{id}',
        'GET /collectors/{id}/machine',
        'GET /collectors/{id}/transitions',
        'POST /collectors/restart',
        'POST /collectors/{id}/start',
        'POST /collectors/{id}/stop',
        'POST /collectors/{id}/pause',
        'POST /collectors/{id}/resume',
        'POST /collectors/{id}/restart',
        'GET /collectors/{id}/checkpoint',
        'PUT /collectors/{id}/checkpoint',
        'DELETE /collectors/{id}/checkpoint',
        'GET /collectors/{id}/config',
        'PUT /collectors/{id}/config',
        'POST /collectors',
        'DELETE /collectors/{id}',
        'POST /reload',
        'GET /version',
        'GET /admin/loggers',
        'PUT /admin/loggers',
        'GET /enrichers',
        'GET /enrichers/{id}',
        'POST /enrichers/{id}/restart',
        'DELETE /enrichers/{id}/cache',
        'GET /plugins',
        'POST /plugins/{name}/config/validate',
        'GET /false-positives',
        'POST /false-positives',
        'DELETE /false-positives/{type}/{value}',
        'GET /dead-letters',
        'GET /overview',
        'GET /history',
        'GET /detections',
        'GET /feed',
        'GET /tap',
      ].sort(),
    );
  });

  it('gives every operation a unique operationId, a summary, its path parameters and its error responses', () => {
    const ids = new Set<string>();
    for (const [p, byMethod] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(byMethod)) {
        const where = `${method} ${p}`;
        expect(op.operationId, where).toBeTruthy();
        expect(ids.has(op.operationId!), `duplicate ${op.operationId}`).toBe(false);
        ids.add(op.operationId!);
        expect(op.summary, where).toBeTruthy();
        for (const name of [...p.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
          expect(op.parameters?.find((x) => x.in === 'path' && x.name === name)?.required, `${where} path param ${name}`).toBe(true);
        }
        const isPublic = Array.isArray(op.security) && op.security.length === 0;
        if (!isPublic) expect(Object.keys(op.responses), where).toContain('401');
        if (p.includes('{id}')) expect(Object.keys(op.responses), where).toContain('404');
        if (p.includes('{') || op.parameters?.some((x) => x.in === 'query')) expect(Object.keys(op.responses), where).toContain('400');
        if (['post', 'put', 'delete'].includes(method)) expect(Object.keys(op.responses), where).toContain('429');
        if (op.requestBody) expect(Object.keys(op.responses), where).toContain('400');
      }
    }
    expect(doc.components.securitySchemes).toEqual({ bearerAuth: expect.objectContaining({ type: 'http', scheme: 'bearer' }) });
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Error', 'CollectorSummary']));
  });

  it('declares the 409 of every state-changing collector route', () => {
    for (const cmd of ['start', 'stop', 'pause', 'resume', 'restart']) expect(Object.keys(doc.paths[`/collectors/{id}/${cmd}`]!.post!.responses)).toContain('409');
    expect(Object.keys(doc.paths['/collectors/{id}/checkpoint']!.put!.responses)).toContain('409');
    expect(Object.keys(doc.paths['/collectors/{id}/checkpoint']!.delete!.responses)).toContain('409');
  });

  it('renders the Swagger UI at /docs with its assets', async () => {
    const page = await api.call({ url: '/docs/', auth: false });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    for (const asset of [...page.body.matchAll(/(?:src|href)="\.\/(static\/[^"]+)"/g)].map((m) => m[1])) {
      const res = await api.call({ url: `/docs/${asset}`, auth: false });
      expect(res.statusCode, asset).toBe(200);
    }
    const init = await api.call({ url: '/docs/static/swagger-initializer.js', auth: false });
    expect(init.body).toContain('SwaggerUIBundle');
    const spec = await api.call({ url: '/docs/json', auth: false });
    expect(spec.json().paths['/collectors']).toBeDefined();
  });
});
