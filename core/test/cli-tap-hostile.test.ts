import http from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/command.js';
import { main } from '../src/cli/main.js';
import { MAX_SSE_EVENT_CHARS } from '../src/cli/sse-client.js';
import { repoRoot } from './helpers.js';

/** `fabric tap` reads whatever the URL it is given answers: a hostile or broken server must not crash or exhaust it. */

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function serve(handler: http.RequestListener): Promise<string> {
  server = http.createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function tap(url: string, tty = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    stdout: { write: (s: string) => ((out += s), true), isTTY: tty, columns: 120 } as unknown as CliIo['stdout'],
    stderr: { write: (s: string) => ((err += s), true) } as unknown as CliIo['stderr'],
    env: {},
    cwd: repoRoot,
  };
  const code = await main(['tap', '--url', url, '--token', 't'], io);
  return { code, out, err };
}

const sse = (res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });

describe('fabric tap against a hostile or broken server', () => {
  it('skips what is not an event object, prints the rest, and reports the end of the stream', async () => {
    const url = await serve((_req, res) => {
      sse(res);
      res.write('event: event\ndata: not json\n\n');
      res.write('event: event\ndata: [1,2]\n\n');
      res.write('event: other\ndata: {"a":1}\n\n');
      res.write(': comment\n\nretry: x\n\n');
      res.write('event: event\ndata: {"message":"ok \\u001b[31m","fabric":{"collector":"c"}}\n\n');
      res.end();
    });
    const r = await tap(url);
    expect(r.code).toBe(3);
    expect(r.out).toBe('{"message":"ok \\u001b[31m","fabric":{"collector":"c"}}\n');
    expect(r.err).toContain(`the instance at ${url} ended the stream`);
    const onTty = await tap(url, true);
    expect(onTty.out).not.toContain('\u001b');
  });

  it('a reader that goes away (`fabric tap | head`) ends tap like Ctrl+C, not with a crash', async () => {
    const url = await serve((_req, res) => {
      sse(res);
      const timer = setInterval(() => res.write('event: event\ndata: {"message":"m"}\n\n'), 10);
      res.on('close', () => clearInterval(timer));
    });
    // As a pipe whose reader closed: every write fails with EPIPE, reported as the stream's 'error' event.
    const stdout = Object.assign(
      new Writable({
        write(_chunk, _enc, done) {
          done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        },
      }),
      { isTTY: false },
    );
    let err = '';
    const io: CliIo = { stdout, stderr: { write: (s: string) => ((err += s), true) } as unknown as CliIo['stderr'], env: {}, cwd: repoRoot };
    expect(await main(['tap', '--url', url, '--token', 't'], io)).toBe(0);
    expect(err).toMatch(/^tap stopped: \d+ event\(s\) shown\n$/);
  });

  it('an event that never ends is refused past the bound instead of filling memory', async () => {
    const url = await serve((_req, res) => {
      sse(res);
      const chunk = `data: ${'x'.repeat(1 << 20)}`;
      let sent = 0;
      const pump = (): void => {
        while (sent <= MAX_SSE_EVENT_CHARS + (2 << 20)) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const r = await tap(url);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`sent an event larger than ${MAX_SSE_EVENT_CHARS} characters`);
  }, 60_000);

  it('an answer that is not a stream is an error naming the status and the server’s message', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'TOO_MANY_STREAMS', message: '64 /tap streams are open' }));
    });
    const r = await tap(url);
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: 64 /tap streams are open [TOO_MANY_STREAMS]\n');
  });
});
