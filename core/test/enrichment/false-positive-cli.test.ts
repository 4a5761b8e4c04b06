import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startAdminServer } from '../../src/admin/index.js';
import { runCommand } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/command.js';
import { FalsePositiveStore } from '../../src/enrichment/index.js';
import { standardHost } from '../admin/fake-host.js';
import { detection, FakeEnricher, makeStage, ManualClock, reputation, silentLogger, tempStateDir } from './helpers.js';

const TOKEN = 'cli-test-token-0123456789abcdef';

async function run(argv: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => ((out += s), true) } as unknown as CliIo['stdout'],
    stderr: { write: (s: string) => ((err += s), true) } as unknown as CliIo['stderr'],
    env,
    cwd,
  };
  const code = await runCommand(argv, io);
  return { code, out, err };
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('fabric false-positive', () => {
  let tmp: Awaited<ReturnType<typeof tempStateDir>>;
  beforeEach(async () => {
    tmp = await tempStateDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('edits the state file when no instance runs, and a running stage picks the change up', async () => {
    const port = await closedPort();
    await writeFile(path.join(tmp.dir, 'fabric.yaml'), `state_dir: ./state\nadmin:\n  enabled: true\n  port: ${port}\n`);
    const add = await run(['false-positive', 'add', 'ip', '45.33.32.156', '--reason', 'our scanner'], tmp.dir);
    expect(add.err).toBe('');
    expect(add.code).toBe(0);
    expect(add.out).toContain(`marked ipv4 45.33.32.156 (our scanner) as a false positive in ${path.join(tmp.dir, 'state', 'enrichment', 'false-positives.json')}`);
    expect(add.out).toContain(`no running instance answered at http://127.0.0.1:${port}`);

    const store = await FalsePositiveStore.open(path.join(tmp.dir, 'state'));
    expect((await store.list()).map((f) => f.indicator)).toEqual([{ type: 'ipv4', value: '45.33.32.156' }]);

    const list = await run(['false-positive', 'list'], tmp.dir);
    expect(list.out).toMatch(/^TYPE\s+VALUE\s+MARKED\s+REASON\nipv4\s+45\.33\.32\.156\s+\S+Z\s+our scanner\n$/);

    // A stage already running (admin API off) sees marks the CLI wrote into its file.
    const clock = new ManualClock(Date.UTC(2026, 0, 15));
    const src = new FakeEnricher(clock, { respond: (ind) => ({ indicator: ind, status: 'malicious', score: 1 }) });
    const { stage } = await makeStage({ enrichers: [{ id: 'vt', instance: src }], stateDir: path.join(tmp.dir, 'state'), clock });
    await run(['false-positive', 'add', 'domain', 'Scanner.Corp-Tools.NET'], tmp.dir);
    await clock.advance(5000);
    await stage.process([detection({ source: { ip: '10.0.0.1' } })]);
    await vi.waitFor(() => expect(stage.falsePositives.snapshot()).toHaveLength(2));
    const e = detection({ dns: { question: { name: 'scanner.corp-tools.net' } }, source: { ip: '45.33.32.156' } });
    await stage.process([e]);
    expect(src.calls).toHaveLength(0);
    expect(reputation(e).skipped.map((s: { reason: string }) => s.reason)).toEqual(['false_positive', 'false_positive']);
    await stage.stop();

    const rm = await run(['false-positive', 'remove', 'ipv4', '45.33.32.156'], tmp.dir);
    expect(rm.code).toBe(0);
    const again = await run(['false-positive', 'remove', 'ipv4', '45.33.32.156'], tmp.dir);
    expect(again.code).toBe(1);
    expect(again.err).toContain('ipv4 45.33.32.156 is not marked as a false positive');
  });

  it('goes through the admin API when an instance runs', async () => {
    const stateDir = path.join(tmp.dir, 'state');
    await mkdir(stateDir, { recursive: true });
    const store = await FalsePositiveStore.open(stateDir);
    const host = standardHost();
    host.listFalsePositives = () => store.list();
    host.markFalsePositive = (i, r) => store.mark(i, r);
    host.unmarkFalsePositive = (i) => store.unmark(i);
    const server = await startAdminServer(host, { enabled: true, host: '127.0.0.1', port: 0, token: TOKEN }, { logger: silentLogger, stateDir, env: {} });
    try {
      const env = { FABRIC_ADMIN_TOKEN: TOKEN };
      const add = await run(['false-positive', 'add', 'sha256', 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855', '--state-dir', 'state'], tmp.dir, env);
      expect(add.err).toBe('');
      expect(add.out).toContain(`in the running instance at ${server.url}`);
      expect((await store.list()).map((f) => f.indicator.value)).toEqual(['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']);

      const list = await run(['false-positive', 'list', '--json', '--state-dir', 'state'], tmp.dir, env);
      expect(JSON.parse(list.out)).toEqual([expect.objectContaining({ indicator: { type: 'sha256', value: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' } })]);

      const rm = await run(['false-positive', 'remove', 'sha256', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '--state-dir', 'state'], tmp.dir, env);
      expect(rm.code).toBe(0);
      expect(await store.list()).toEqual([]);

      const badToken = await run(['false-positive', 'list', '--state-dir', 'state', '--token', 'wrong-token-wrong-token'], tmp.dir, {});
      expect(badToken.code).toBe(1);
      expect(badToken.err).toContain('refused the token from --token');
      expect(badToken.err).not.toContain(TOKEN);
    } finally {
      await server.close();
    }
  });

  it('refuses malformed indicators with the reason and the usage', async () => {
    await expect(run(['false-positive', 'add', 'ipv4', '999.1.1.1', '--state-dir', 'x'], tmp.dir)).rejects.toThrow(
      /"999\.1\.1\.1" is not an IP address\nusage: fabric false-positive add/,
    );
    await expect(run(['false-positive', 'add', 'md5'], tmp.dir)).rejects.toThrow(/expected <type> <value>/);
  });
});
