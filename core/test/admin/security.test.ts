import { afterAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startAdminServer, resolveToken, TokenConfigError } from '../../src/admin/index.js';
import { tokenMatcher, bearerToken } from '../../src/admin/token.js';
import { SECRET_API_KEY, standardHost } from './fake-host.js';
import { SecretAudit, TOKEN, captureLogger, expectError, testApi } from './harness.js';
import { tempDir } from '../helpers.js';

const audit = new SecretAudit();
const ENV_TOKEN = 'env-token-9b8a7c6d5e4f3a2b1c0d';
const generatedTokens: string[] = [];
afterAll(() => audit.assertNoneOf([TOKEN, SECRET_API_KEY, ENV_TOKEN, ...generatedTokens]));

/** Fill path parameters of an OpenAPI path with plausible values. */
function concrete(p: string): string {
  return p.replace('{id}', 'auth-log').replace('{name}', 'legacy-plugin').replace('{type}', 'ipv4').replace('{value}', '10.0.0.1');
}

describe('bearer token on every route', () => {
  it('answers 401 with a JSON error on every documented route without a token or with a wrong one, except the public ones', async () => {
    // Well over the default failed-authentication budget (hostile-admin.test.ts covers that limit).
    const api = await testApi(standardHost(), audit, { auth_failure_limit: { max: 10_000, window_seconds: 60 } });
    const doc = api.app.swagger() as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    const publicOps: string[] = [];
    let checked = 0;
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const url = concrete(p);
        if (Array.isArray(op.security) && op.security.length === 0) {
          publicOps.push(`${method} ${p}`);
          continue;
        }
        for (const auth of [false, 'wrong-token-000000000000', `${TOKEN}x`, TOKEN.slice(0, -1)] as const) {
          const res = await api.call({ method: method.toUpperCase() as 'GET', url, auth, payload: method === 'get' || method === 'delete' ? undefined : {} });
          const body = expectError(res, 401, 'UNAUTHORIZED');
          expect(res.headers['www-authenticate']).toBe('Bearer realm="reactive-fabric"');
          expect(body.message).toMatch(auth === false ? /missing bearer token/ : /invalid bearer token/);
          checked++;
        }
      }
    }
    expect(publicOps.sort()).toEqual(['get /health', 'get /ready']);
    expect(checked).toBeGreaterThanOrEqual(4 * 20);
    // Nothing was changed by the rejected mutations.
    expect((await api.call({ url: '/collectors/auth-log' })).json().state).toBe('running');
    await api.app.close();
  });

  it('guards HEAD routes and malformed URLs too', async () => {
    const api = await testApi(standardHost(), audit);
    const head = await api.call({ method: 'HEAD', url: '/collectors', auth: false });
    expect(head.statusCode).toBe(401);
    expect(head.headers['www-authenticate']).toBe('Bearer realm="reactive-fabric"');
    expect(head.body).toBe('');
    expect((await api.call({ method: 'HEAD', url: '/collectors' })).statusCode).toBe(200);
    expectError(await api.call({ url: '/collectors/%E0%A4%A', auth: false }), 401, 'UNAUTHORIZED');
    const bad = expectError(await api.call({ url: '/collectors/%E0%A4%A' }), 400, 'INVALID_REQUEST');
    expect(bad.message).toContain('URL is not valid');
    expectError(await api.call({ url: `/collectors/${'a'.repeat(3000)}` }), 400, 'INVALID_REQUEST');
    await api.app.close();
  });

  it('rejects other schemes and malformed headers', async () => {
    const api = await testApi(standardHost(), audit);
    for (const authorization of [`Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`, TOKEN, `Bearer`, `Bearer ${TOKEN} extra`, `Token ${TOKEN}`]) {
      expectError(await api.call({ url: '/collectors', auth: false, headers: { authorization } }), 401, 'UNAUTHORIZED');
    }
    expect((await api.call({ url: '/collectors', auth: false, headers: { authorization: `bearer ${TOKEN}` } })).statusCode).toBe(200);
    await api.app.close();
  });

  it('serves /metrics without the token only when admin.metrics_public is set', async () => {
    const closed = await testApi(standardHost(), audit);
    expectError(await closed.call({ url: '/metrics', auth: false }), 401, 'UNAUTHORIZED');
    await closed.app.close();
    const open = await testApi(standardHost(), audit, { metrics_public: true });
    const res = await open.call({ url: '/metrics', auth: false });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('fabric_collector_state');
    expectError(await open.call({ url: '/stats', auth: false }), 401, 'UNAUTHORIZED');
    await open.app.close();
  });

  it('serves /docs and /openapi.json publicly by default and behind the token with docs_public: false', async () => {
    const open = await testApi(standardHost(), audit);
    const docs = await open.call({ url: '/docs', auth: false });
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toContain('Swagger UI');
    expect((await open.call({ url: '/openapi.json', auth: false })).statusCode).toBe(200);
    await open.app.close();
    const closed = await testApi(standardHost(), audit, { docs_public: false });
    expectError(await closed.call({ url: '/docs', auth: false }), 401, 'UNAUTHORIZED');
    expectError(await closed.call({ url: '/docs/static/swagger-ui.css', auth: false }), 401, 'UNAUTHORIZED');
    expectError(await closed.call({ url: '/openapi.json', auth: false }), 401, 'UNAUTHORIZED');
    expect((await closed.call({ url: '/openapi.json' })).statusCode).toBe(200);
    await closed.app.close();
  });
});

describe('token comparison', () => {
  it('matches only the exact token, whatever the lengths', () => {
    const matches = tokenMatcher(TOKEN);
    expect(matches(TOKEN)).toBe(true);
    expect(matches(`${TOKEN} `)).toBe(false);
    expect(matches('')).toBe(false);
    expect(matches(TOKEN.toUpperCase())).toBe(false);
    expect(matches('x'.repeat(10_000))).toBe(false);
  });

  it('extracts the token of a Bearer header only', () => {
    expect(bearerToken(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken(`Basic ${TOKEN}`)).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});

describe('token resolution', () => {
  it('prefers admin.token, then FABRIC_ADMIN_TOKEN, and writes no file for either', async () => {
    const dir = tempDir('fabric-admin-');
    expect(await resolveToken(TOKEN, { FABRIC_ADMIN_TOKEN: ENV_TOKEN }, dir)).toEqual({ token: TOKEN, source: 'config' });
    expect(await resolveToken(undefined, { FABRIC_ADMIN_TOKEN: ENV_TOKEN }, dir)).toEqual({ token: ENV_TOKEN, source: 'env' });
    await expect(fs.readdir(dir)).resolves.toEqual([]);
  });

  it('refuses a short token, saying how to make a good one', async () => {
    const dir = tempDir('fabric-admin-');
    await expect(resolveToken('hunter2', {}, dir)).rejects.toThrow(TokenConfigError);
    await expect(resolveToken(undefined, { FABRIC_ADMIN_TOKEN: 'short' }, dir)).rejects.toThrow(
      /FABRIC_ADMIN_TOKEN environment variable is 5 characters long.*openssl rand -hex 32/,
    );
  });

  it('generates a token into <stateDir>/admin-token with mode 0600 and reuses it on the next start', async () => {
    const dir = path.join(tempDir('fabric-admin-'), 'nested', '.fabric');
    const first = await resolveToken(undefined, {}, dir);
    generatedTokens.push(first.token);
    expect(first.source).toBe('generated');
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const file = path.join(dir, 'admin-token');
    expect(first.tokenFile).toBe(file);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await fs.readFile(file, 'utf8')).trim()).toBe(first.token);
    const second = await resolveToken(undefined, {}, dir);
    expect(second).toEqual({ token: first.token, source: 'file', tokenFile: file });
  });

  it('says what to do when the state directory cannot hold the token', async () => {
    const dir = tempDir('fabric-admin-');
    const blocker = path.join(dir, 'not-a-dir');
    await fs.writeFile(blocker, 'x');
    await expect(resolveToken(undefined, {}, path.join(blocker, '.fabric'))).rejects.toThrow(
      /cannot store a generated admin token in .*admin-token \(ENOTDIR\): make state_dir writable, or set admin.token or FABRIC_ADMIN_TOKEN/,
    );
  });

  it('replaces a stored token that other users could read', async () => {
    const dir = tempDir('fabric-admin-');
    const file = path.join(dir, 'admin-token');
    await fs.writeFile(file, 'leaked-token-readable-by-all-0000\n', { mode: 0o644 });
    await fs.chmod(file, 0o644);
    const r = await resolveToken(undefined, {}, dir);
    generatedTokens.push(r.token);
    expect(r.source).toBe('generated');
    expect(r.token).not.toBe('leaked-token-readable-by-all-0000');
    expect(r.discarded).toContain('readable by other users');
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  });
});

describe('startAdminServer', () => {
  it('listens, logs where the generated token is (never the token), writes admin-url and answers with the token', async () => {
    const stateDir = tempDir('fabric-admin-');
    const { logger, lines } = captureLogger(audit, 'info');
    const server = await startAdminServer(standardHost(), { enabled: true, port: 0 }, { logger, stateDir, env: {} });
    generatedTokens.push(server.token);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.tokenFile).toBe(path.join(stateDir, 'admin-token'));
    const logged = lines.join('');
    expect(logged).toContain(`stored in ${server.tokenFile} (mode 0600)`);
    expect(logged).not.toContain(server.token);
    expect((await fs.readFile(path.join(stateDir, 'admin-url'), 'utf8')).trim()).toBe(server.url);

    const unauth = await fetch(`${server.url}/collectors`);
    expect(unauth.status).toBe(401);
    audit.record(await unauth.text());
    const res = await fetch(`${server.url}/collectors`, { headers: { authorization: `Bearer ${server.token}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    audit.record(text);
    expect(JSON.parse(text).collectors).toHaveLength(5);
    await server.close();
    await expect(fs.access(path.join(stateDir, 'admin-url'))).rejects.toThrow();
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });

  it('uses FABRIC_ADMIN_TOKEN from the environment and says so without printing it', async () => {
    const stateDir = tempDir('fabric-admin-');
    const { logger, lines } = captureLogger(audit, 'info');
    const server = await startAdminServer(standardHost(), { port: 0 }, { logger, stateDir, env: { FABRIC_ADMIN_TOKEN: ENV_TOKEN } });
    expect(server.token).toBe(ENV_TOKEN);
    expect(server.tokenFile).toBeUndefined();
    expect(lines.join('')).toContain('admin API token taken from FABRIC_ADMIN_TOKEN');
    const res = await fetch(`${server.url}/collectors`, { headers: { authorization: `Bearer ${ENV_TOKEN}` } });
    expect(res.status).toBe(200);
    audit.record(await res.text());
    await server.close();
  });

  it('explains a busy port', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const { logger } = captureLogger(audit, 'info');
    await expect(startAdminServer(standardHost(), { port, token: TOKEN }, { logger, stateDir: tempDir('fabric-admin-') })).rejects.toThrow(
      `127.0.0.1:${port} is already in use; set admin.port`,
    );
    blocker.close();
  });
});

describe('abuse limits', () => {
  it('rate-limits mutating routes per client with a JSON 429, leaving reads alone', async () => {
    const api = await testApi(standardHost(), audit, { rate_limit: { max: 3, window_seconds: 60 } });
    const codes: number[] = [];
    for (const cmd of ['pause', 'resume', 'pause', 'resume']) codes.push((await api.call({ method: 'POST', url: `/collectors/auth-log/${cmd}` })).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
    const limited = await api.call({ method: 'DELETE', url: '/false-positives/ipv4/10.0.0.1' });
    const body = expectError(limited, 429, 'RATE_LIMITED');
    expect(body.message).toContain('admin.rate_limit');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) expect((await api.call({ url: '/collectors' })).statusCode).toBe(200);
    await api.app.close();
  });

  it('refuses bodies over admin.body_limit_bytes with 413', async () => {
    const api = await testApi(standardHost(), audit, { body_limit_bytes: 1024 });
    await api.call({ method: 'POST', url: '/collectors/stopped-one/stop' });
    const body = expectError(await api.call({ method: 'PUT', url: '/collectors/stopped-one/checkpoint', payload: { value: 'x'.repeat(2000) } }), 413, 'BODY_TOO_LARGE');
    expect(body.message).toContain('admin.body_limit_bytes');
    expect((await api.call({ method: 'PUT', url: '/collectors/stopped-one/checkpoint', payload: { value: 'x'.repeat(500) } })).statusCode).toBe(200);
    await api.app.close();
  });

  it('sends security headers on API responses, errors included', async () => {
    const api = await testApi(standardHost(), audit);
    for (const res of [
      await api.call({ url: '/collectors' }),
      await api.call({ url: '/collectors', auth: false }),
      await api.call({ url: '/collectors/nope' }),
      await api.call({ url: '/health', auth: false }),
    ]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
    await api.app.close();
  });

  it('serves the docs with helmet headers whose CSP lets the Swagger UI load its own assets', async () => {
    const api = await testApi(standardHost(), audit);
    const page = await api.call({ url: '/docs/', auth: false });
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['strict-transport-security']).toBeDefined();
    await api.app.close();
  });
});
