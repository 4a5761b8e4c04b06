import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/command.js';
import { main } from '../src/cli/main.js';
import { compactLine } from '../src/cli/commands/live.js';
import { repoRoot, startFabric, tempDir, until } from './helpers.js';

/**
 * `fabric tap` and `fabric top` against a real instance: `fabric start` (core/dist: build first)
 * on a temp config with the JSON-lines sink, found through its state folder (admin-url, admin-token).
 */

let dir: string;
let instance: ReturnType<typeof startFabric>;
const stateDir = () => join(dir, 'state');

function capture(opts: { tty?: boolean; signal?: AbortSignal } = {}): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => ((out += s), true), isTTY: opts.tty, columns: 200 } as unknown as CliIo['stdout'],
    stderr: { write: (s: string) => ((err += s), true) } as unknown as CliIo['stderr'],
    env: {},
    cwd: repoRoot,
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  return { io, out: () => out, err: () => err };
}

const sshd = (n: number) => `Dec 10 06:55:${String(10 + n).padStart(2, '0')} host sshd[${n}]: Failed password for root from 10.0.0.${n} port 22 ssh2\n`;
const plain = (n: number) => `app started worker ${n}\n`;

beforeAll(async () => {
  dir = tempDir('fabric-live-');
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'logs', 'auth.log'), '');
  writeFileSync(join(dir, 'logs', 'app.log'), '');
  writeFileSync(
    join(dir, 'fabric.yaml'),
    [
      'state_dir: ./state',
      'orchestrator: { collection_interval_seconds: 0.2 }',
      'pipeline: { publish: all }',
      'admin: { enabled: true, port: 0 }',
      'collectors:',
      '  - { id: auth, plugin: "@reactive-fabric/plugin-log-file", config: { base_dir: ./logs, paths: [auth.log], format: syslog } }',
      '  - { id: app, plugin: "@reactive-fabric/plugin-log-file", config: { base_dir: ./logs, paths: [app.log], format: plain } }',
      'sink: { type: jsonl }',
    ].join('\n'),
  );
  instance = startFabric(join(dir, 'fabric.yaml'), repoRoot);
  await until(() => instance.stderr().includes('reactive fabric running') && existsSync(join(stateDir(), 'admin-url')), 60_000, 50);
}, 90_000);

afterAll(async () => {
  if (instance.child.exitCode === null) {
    instance.child.kill('SIGTERM');
    await instance.exited;
  }
});

describe('fabric tap', () => {
  it('prints each published event as a JSON line, only of the collector and kind asked for, and stops cleanly on Ctrl+C', async () => {
    const ac = new AbortController();
    const all = capture({ signal: ac.signal });
    const appOnly = capture({ signal: ac.signal });
    const plainEvents = capture({ signal: ac.signal });
    const taps = [
      main(['tap', '--state-dir', stateDir()], all.io),
      main(['tap', 'app', '--state-dir', stateDir()], appOnly.io),
      main(['tap', '--kind', 'event', '--state-dir', stateDir()], plainEvents.io),
    ];
    // Each tap is subscribed once the server has its stream open: appended lines after that reach it.
    await until(
      async () => {
        appendFileSync(join(dir, 'logs', 'app.log'), plain(0));
        return [all, appOnly, plainEvents].every((t) => t.out().length > 0);
      },
      30_000,
      300,
    );
    appendFileSync(join(dir, 'logs', 'auth.log'), sshd(1) + sshd(2));
    await until(() => all.out().includes('10.0.0.2 port 22'), 30_000, 50);
    ac.abort();
    expect(await Promise.all(taps)).toEqual([0, 0, 0]);

    const parse = (text: string) =>
      text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { message: string; event: { kind: string }; fabric: { collector: string } });
    const seen = parse(all.out());
    expect(seen.filter((e) => e.fabric.collector === 'auth').map((e) => e.message)).toEqual([
      'Failed password for root from 10.0.0.1 port 22 ssh2',
      'Failed password for root from 10.0.0.2 port 22 ssh2',
    ]);
    expect(seen.some((e) => e.fabric.collector === 'app')).toBe(true);
    // The sshd lines match a built-in rule: they are detections, not plain events.
    expect(seen.filter((e) => e.fabric.collector === 'auth').every((e) => e.event.kind !== 'event')).toBe(true);
    expect(parse(appOnly.out()).every((e) => e.fabric.collector === 'app')).toBe(true);
    expect(parse(plainEvents.out()).every((e) => e.event.kind === 'event' && e.fabric.collector === 'app')).toBe(true);
    expect(all.err()).toMatch(/^tap stopped: \d+ event\(s\) shown\n$/);
  }, 90_000);

  it('on a terminal, one compact line per event, with control characters from the log removed', () => {
    const line = compactLine(
      {
        '@timestamp': '2026-12-04T08:00:01.123Z',
        message: 'evil \u001b[2J\u001b]0;title\u0007 text',
        event: { kind: 'alert' },
        fabric: { collector: 'auth', priority: 'high' },
        rule: { name: 'ssh_brute' },
        source: { ip: '10.0.0.9' },
      },
      200,
    );
    expect(line).toBe('08:00:01  auth  alert   high    ssh_brute  10.0.0.9  evil  [2J ]0;title  text');
    expect(line).not.toMatch(/[\u0000-\u001f]/);
  });

  it('a filter that is not a priority is a usage error with the allowed values', async () => {
    const t = capture();
    expect(await main(['tap', '--priority', 'hihg', '--state-dir', stateDir()], t.io)).toBe(2);
    expect(t.err()).toContain('--priority must be one of: info, low, medium, high, critical (did you mean high?); got "hihg"');
  });
});

describe('fabric top', () => {
  it('--once (and any output that is not a terminal) prints one table of every collector and exits', async () => {
    const t = capture();
    expect(await main(['top', '--once', '--state-dir', stateDir()], t.io)).toBe(0);
    const lines = t.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}ready {2}sink ok {2}/);
    expect(lines[2]).toMatch(/^COLLECTOR\s+KIND\s+STATE\s+HEALTH\s+IN\/s\s+OUT\/s\s+COLLECTED\s+PUBLISHED\s+DETECTIONS\s+ERRORS\s+LAST ERROR$/);
    expect(lines.slice(3).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['auth', 'source', 'running'],
      ['app', 'source', 'running'],
    ]);
    const auth = lines[3]!.split(/\s+/);
    // COLLECTED, PUBLISHED and DETECTIONS of auth: the two sshd lines of the tap test, both detections.
    expect(auth.slice(6, 9)).toEqual(['2', '2', '2']);
    expect(t.out()).not.toContain('\x1b[');
  });

  it('on a terminal it redraws in place until Ctrl+C', async () => {
    const ac = new AbortController();
    const t = capture({ tty: true, signal: ac.signal });
    const running = main(['top', '--interval', '0.5', '--state-dir', stateDir()], t.io);
    await until(() => t.out().split('\x1b[H\x1b[J').length > 2, 30_000, 50);
    ac.abort();
    expect(await running).toBe(0);
    expect(t.out().startsWith('\x1b[H\x1b[J')).toBe(true);
    expect(t.out()).toContain('Ctrl+C stops; refreshing every 0.5s');
  }, 60_000);
});

describe('when the instance goes away', () => {
  it('tap ends with a clear message (exit 3), and top says it cannot reach it', async () => {
    const t = capture();
    const tapping = main(['tap', '--state-dir', stateDir()], t.io);
    // The stream is open once a first event arrives.
    await until(
      () => {
        appendFileSync(join(dir, 'logs', 'app.log'), plain(9));
        return t.out().length > 0;
      },
      30_000,
      300,
    );
    instance.child.kill('SIGTERM');
    expect(await tapping).toBe(3);
    expect(t.err()).toMatch(/the instance at http:\/\/127\.0\.0\.1:\d+ ended the stream \(it stopped or restarted\): \d+ event\(s\) shown\n$/);
    await instance.exited;
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const top = capture();
    expect(await main(['top', '--once', '--url', `http://127.0.0.1:${port}`, '--token', 'x'], top.io)).toBe(3);
    expect(top.err()).toContain(`error: cannot reach the admin API at http://127.0.0.1:${port} (ECONNREFUSED; URL from --url)`);
  }, 60_000);
});
