// The HTTP toolkit's deadline is a timer: a timeout a plugin passes that Node's timers cannot hold
// must not turn into 1 ms (every request "timing out" at once) or a RangeError out of the request.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, httpSend, isPluginError } from '../../src/plugin-api/index.js';

let server: http.Server;
let base: string;
beforeAll(async () => {
  // Answers after 50 ms: a deadline that fires at once is seen.
  server = http.createServer((_req, res) => setTimeout(() => res.end('{"ok":true}'), 50));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

describe('HTTP toolkit deadlines a timer cannot hold', () => {
  for (const timeoutMs of [3e9, 5e9, Number.MAX_SAFE_INTEGER]) {
    it(`httpSend with timeoutMs ${timeoutMs} waits for the answer`, async () => {
      const answer = await httpSend(`${base}/x`, { method: 'GET' }, 'GET /x', { vendor: 'Fake', signal: new AbortController().signal, timeoutMs });
      expect(answer.status).toBe(200);
    });

    it(`HttpClient with timeoutMs ${timeoutMs} waits for the answer`, async () => {
      const client = new HttpClient(
        { baseUrl: base, verify: true, timeoutMs, backend: 'Fake' },
        () => undefined,
        () => undefined,
      );
      try {
        const res = await client.send('GET', '/x', { signal: new AbortController().signal });
        expect(res.status).toBe(200);
      } finally {
        await client.close();
      }
    });
  }

  for (const timeoutMs of [Number.NaN, -1, Number.NEGATIVE_INFINITY]) {
    it(`a timeoutMs of ${timeoutMs} (a plugin's bug) ends the request as the toolkit's TIMEOUT, not a RangeError`, async () => {
      const err = await httpSend(`${base}/x`, { method: 'GET' }, 'GET /x', { vendor: 'Fake', signal: new AbortController().signal, timeoutMs }).catch((e: unknown) => e);
      expect(isPluginError(err)).toBe(true);
      expect(err).toMatchObject({ code: 'TIMEOUT' });
    });
  }
});
