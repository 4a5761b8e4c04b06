import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { standardHost } from './fake-host.js';
import { SecretAudit, TOKEN, testApi } from './harness.js';
import type { TestApi } from './harness.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const audit = new SecretAudit();
let api: TestApi;
let promtool: string;

beforeAll(async () => {
  // Installs Debian's `prometheus` package when promtool is missing (CI machines start without it).
  promtool = execFileSync('bash', [path.join(repoRoot, 'scripts/ensure-promtool.sh')], { encoding: 'utf8', timeout: 240_000 })
    .trim()
    .split('\n')
    .pop()!;
  api = await testApi(standardHost(), audit);
}, 300_000);
afterAll(async () => {
  await api.app.close();
  audit.assertNoneOf([TOKEN]);
});

function check(text: string): { status: number | null; output: string } {
  const r = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('/metrics', () => {
  it('passes `promtool check metrics`', async () => {
    await api.call({ method: 'POST', url: '/collectors/broken/restart' });
    const res = await api.call({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    const { status, output } = check(res.body);
    expect(output).toBe('');
    expect(status).toBe(0);
  });

  it('is really checked: promtool rejects a broken exposition', () => {
    const { status, output } = check('# TYPE fabric_x counter\nfabric_x{a="1"} one\n');
    expect(status).not.toBe(0);
    expect(output).toMatch(/error|expected/i);
  });
});
