import { Writable } from 'node:stream';
import pino from 'pino';
import { expect } from 'vitest';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import type { AdminApp, AdminConfig } from '../../src/admin/index.js';
import type { FabricHost } from '../../src/host.js';

export const TOKEN = 'test-admin-token-6f1d0c2b9a8e7d6c';

/**
 * Everything the suite saw leave the admin API (response bodies and headers, log lines), so each
 * test file can assert at the end that no configured secret value appears in any of it.
 */
export class SecretAudit {
  readonly seen: string[] = [];
  record(text: string): void {
    this.seen.push(text);
  }
  /** Fails naming the first place a secret appears. */
  assertNoneOf(secrets: string[]): void {
    expect(this.seen.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      const hit = this.seen.find((s) => s.includes(secret));
      expect(hit === undefined ? undefined : `secret leaked in: ${hit.slice(0, 300)}`).toBeUndefined();
    }
  }
}

export function captureLogger(audit: SecretAudit, level: pino.Level = 'debug'): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      lines.push(text);
      audit.record(text);
      cb();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

export interface TestApi {
  app: AdminApp;
  lines: string[];
  /** app.inject with the token (unless `auth: false` or another header is given), recorded in the audit. */
  call(opts: InjectOptions & { auth?: boolean | string }): Promise<LightMyRequestResponse>;
}

export async function testApi(host: FabricHost, audit: SecretAudit, config: Partial<AdminConfig> = {}): Promise<TestApi> {
  const { logger, lines } = captureLogger(audit);
  const app = await buildAdminApp(host, config, { logger, token: TOKEN });
  return {
    app,
    lines,
    async call({ auth = true, ...opts }) {
      const headers = { ...(opts.headers ?? {}) } as Record<string, string>;
      if (auth !== false) headers.authorization = `Bearer ${auth === true ? TOKEN : auth}`;
      const res = await app.inject({ ...opts, headers });
      audit.record(`${opts.method ?? 'GET'} ${String(opts.url)} -> ${res.statusCode} ${JSON.stringify(res.headers)} ${res.body}`);
      return res;
    },
  };
}

/** Asserts the uniform JSON error shape and returns the body. */
export function expectError(
  res: LightMyRequestResponse,
  status: number,
  code: string,
): { statusCode: number; code: string; error: string; message: string; state?: string; details?: unknown[] } {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.json();
  expect(body).toMatchObject({ statusCode: status, code });
  expect(typeof body.error).toBe('string');
  expect(typeof body.message).toBe('string');
  expect(body.message.length).toBeGreaterThan(5);
  return body;
}
