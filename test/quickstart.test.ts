/**
 * `npm start` (scripts/quickstart.mjs) as a user sees it: progress lines while it installs and
 * builds, a live line per detection, and a stop on SIGTERM that takes fabric with it and frees
 * the admin port and the state_dir lock. Plus the summary's defences against hostile events.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventsFollower, Throttle, summarise } from '../scripts/detection-summary.mjs';

const repo = join(import.meta.dirname, '..');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'fabric-quickstart-'));
  dirs.push(d);
  return d;
}

async function until(pred: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const detection = (over: Record<string, unknown> = {}) => ({
  '@timestamp': '2026-01-01T10:00:00Z',
  event: { kind: 'signal' },
  fabric: { collector: 'auth-log', priority: 'high', matches: [{ title: 'Failed Authentication' }] },
  rule: { name: 'rf_failed_authentication' },
  source: { ip: '203.0.113.9' },
  ...over,
});

describe('the live detection summary', () => {
  it('one line per detection: time, priority, rule, source, collector; other events are not shown', () => {
    const line = summarise(detection()) as string;
    expect(line).toMatch(/^\d\d:\d\d:\d\d {2}HIGH {6}Failed Authentication\s+203\.0\.113\.9\s+auth-log$/);
    expect(summarise({ ...detection(), event: { kind: 'event' } })).toBeUndefined();
    // A correlation alert (ECS alert) without a source address shows the host.
    expect(summarise({ ...detection({ source: undefined, host: { name: 'web-01' } }), event: { kind: 'alert' } })).toContain('web-01');
  });

  it('what came from a log line cannot drive the terminal or flood a line', () => {
    const line = summarise(detection({ source: { ip: '\u001b]0;pwned\u0007\u001b[2J\r\nfake line' }, host: { name: 'x'.repeat(10_000) } })) as string;
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(line.length).toBeLessThan(200);
    for (const hostile of [null, 42, 'text', [], { event: 'signal' }, { event: { kind: 'signal' }, fabric: 'x', rule: [1], '@timestamp': {} }]) {
      expect(() => summarise(hostile)).not.toThrow();
    }
  });

  it('at most 5 lines per 5 s; the rest is counted in one line when the window closes', () => {
    let now = 0;
    const t = new Throttle({ limit: 5, windowMs: 5000, now: () => now });
    const out: string[] = [];
    for (let i = 0; i < 40; i++) out.push(...t.offer(`d${i}`));
    expect(out).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
    now = 5000;
    expect(t.tick()).toEqual(['…and 35 more in the last 5 s']);
    expect(t.offer('next')).toEqual(['next']);
  });

  it('follows the events file from its end: whole new lines only, garbage skipped, a truncated file read again', () => {
    const file = join(temp(), 'events.jsonl');
    writeFileSync(file, `${JSON.stringify(detection())}\n`);
    const seen: unknown[] = [];
    const f = new EventsFollower(file, (e: unknown) => seen.push(e));
    f.poll();
    expect(seen).toEqual([]); // what was there before is not news
    appendFileSync(file, `not json\n${JSON.stringify({ a: 1 })}\n{"half":`);
    f.poll();
    expect(seen).toEqual([{ a: 1 }]);
    appendFileSync(file, '2}\n');
    f.poll();
    expect(seen).toEqual([{ a: 1 }, { half: 2 }]);
    // An overlong line (no newline for 2 MiB) is dropped, up to its end, without holding it all.
    appendFileSync(file, `{"big":"${'x'.repeat(2 * 1024 * 1024)}`);
    f.poll();
    appendFileSync(file, `"}\n${JSON.stringify({ b: 2 })}\n`);
    f.poll();
    expect(seen).toEqual([{ a: 1 }, { half: 2 }, { b: 2 }]);
    truncateSync(file, 0);
    f.poll();
    appendFileSync(file, `${JSON.stringify({ c: 3 })}\n`);
    f.poll();
    expect(seen.at(-1)).toEqual({ c: 3 });
  });
});

describe('npm start (scripts/quickstart.mjs)', () => {
  // Directly, and through npm (npm → sh -c → node): SIGTERM to npm itself must reach fabric too.
  it.each([
    ['node scripts/quickstart.mjs', (config: string) => spawn(process.execPath, [join(repo, 'scripts/quickstart.mjs'), config], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] })],
    ['npm start', (config: string) => spawn('npm', ['start', '--', config], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] })],
  ])(
    '%s shows progress, then detections; SIGTERM stops fabric, frees the admin port and the state_dir lock',
    async (how, start) => {
      const dir = temp();
      const config = join(dir, 'fabric.yaml');
      writeFileSync(
        config,
        [
          'state_dir: ./state',
          'log_level: warn',
          'orchestrator: { collection_interval_seconds: 1, event_batch_size: 500 }',
          'admin: { enabled: true, port: 0, token: "quickstart-test-token-0123456789" }',
          'sink: { type: jsonl }',
          'collectors:',
          '  - id: auth-log',
          '    plugin: "@reactive-fabric/plugin-log-file"',
          `    config: { base_dir: ${JSON.stringify(join(repo, 'examples/sample-logs'))}, paths: [auth.log], format: syslog }`,
        ].join('\n'),
      );
      const child = start(config);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));

      await until(() => /dashboard: http:\/\/127\.0\.0\.1:\d+\/ui\//.test(out), `the dashboard line in:\n${out}`);
      expect(out).toMatch(/^installing dependencies: done in \d+ s$/m);
      expect(out).toMatch(/^building \(about a minute on first run\): done in \d+ s$/m);
      expect(out).not.toMatch(/npm install (-g|--global)/);
      // The sample logs hold attacks: detections are shown as they are written.
      await until(() => /^\d\d:\d\d:\d\d {2}(CRITICAL|HIGH|MEDIUM|LOW|INFO)\s+\S.*auth-log$/m.test(out), `a detection line in:\n${out}`);

      const state = join(dir, 'state');
      const fabricPid = (JSON.parse(readFileSync(join(state, 'instance.pid'), 'utf8')) as { pid: number }).pid;
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(readFileSync(join(state, 'admin-url'), 'utf8'))![1]);
      child.kill('SIGTERM');
      const { code, signal } = await exited;
      // npm re-raises the signal it was stopped by once its script has ended.
      expect(code === 0 || (how === 'npm start' && signal === 'SIGTERM'), `exit ${code} ${signal}: ${out}`).toBe(true);
      // npm does not wait for its script to end: fabric may still be stopping when npm has exited.
      const alive = () => {
        try {
          process.kill(fabricPid, 0);
          return true;
        } catch {
          return false;
        }
      };
      await until(() => !alive(), `fabric (pid ${fabricPid}) to end:\n${out}`, 60_000);
      await until(() => /^stopped: \d+ collected/m.test(out), `fabric's last line in:\n${out}`, 10_000);
      expect(out).toContain('SIGTERM: stopping gracefully');
      expect(out).not.toContain('second SIGTERM');
      // fabric is gone (its lock and pid file with it) and its admin port is free again.
      expect(existsSync(join(state, 'instance.lock'))).toBe(false);
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
      await new Promise((r) => server.close(r));
    },
    300_000,
  );
});
