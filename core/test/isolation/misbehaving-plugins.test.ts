import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { composeFabric } from '../../src/compose/index.js';
import { buildAdminApp } from '../../src/admin/index.js';
import { MemorySink, silentLogger, tempDir, until, writePlugin } from '../helpers.js';

/**
 * One plugin package per misbehaviour, each beside a well-behaved collector. Every source runs in
 * its own worker thread (orchestrator.isolation defaults to worker): the bad one must end
 * restarting or failed with the isolation code, while the good one keeps delivering and the
 * admin API keeps answering.
 */

// Counts in its checkpoint, so every event is new (no de-duplication) and nothing repeats.
const GOOD = `
  configSchema: { type: 'object', properties: {} },
  create() {
    return {
      async poll({ checkpoint, maxEvents }) {
        const n = checkpoint ? checkpoint.n : 0;
        const events = Array.from({ length: Math.min(5, maxEvents) }, (_, i) => ({ '@timestamp': new Date().toISOString(), message: 'good ' + (n + i) }));
        return { events, checkpoint: { n: n + events.length } };
      },
    };
  },`;

const source = (poll: string, top = '') => `
  configSchema: { type: 'object', properties: {} },
  create() {
    ${top}
    return { async poll({ checkpoint, maxEvents }) { ${poll} } };
  },`;

interface Case {
  name: string;
  body: string;
  /** Code at module top level (before the default export). */
  prelude?: string;
  code: string;
  collector?: string;
}

const cases: Case[] = [
  {
    name: 'busy for 5 s in poll (a synchronous loop that ends)',
    body: source(`const end = Date.now() + 5000; while (Date.now() < end) {} return { events: [], checkpoint: null };`),
    code: 'UNRESPONSIVE',
  },
  { name: 'an infinite synchronous loop in poll', body: source(`for (;;) {}`), code: 'UNRESPONSIVE' },
  {
    name: 'a leak (8 MB kept per poll)',
    body: source(
      `globalThis.__kept = globalThis.__kept ?? []; for (let i = 0; i < 8; i++) globalThis.__kept.push(new Array(131072).fill(Math.random())); return { events: [], checkpoint: null };`,
    ),
    code: 'MEMORY_LIMIT',
    collector: '    max_heap_mb: 48\n',
  },
  { name: 'process.exit() in poll', body: source(`process.exit(7);`), code: 'EXITED' },
  { name: 'a throw from a timer', body: source(`setTimeout(() => { throw new Error('timer boom'); }, 1); return { events: [], checkpoint: null };`), code: 'CRASHED' },
  { name: 'an unhandled rejection', body: source(`Promise.reject(new Error('nobody awaits me')); return { events: [], checkpoint: null };`), code: 'CRASHED' },
  { name: 'process.exit() at import', body: source(`return { events: [], checkpoint: null };`), prelude: 'process.exit(3);', code: 'EXITED' },
];

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function project(bad: Case): { dir: string; yaml: string } {
  const dir = tempDir('fabric-isolation-');
  dirs.push(dir);
  writePlugin(dir, 'plugin-good', { body: GOOD });
  writePlugin(dir, 'plugin-bad', { body: bad.body });
  if (bad.prelude) {
    const entry = join(dir, 'node_modules', 'plugin-bad', 'index.js');
    writeFileSync(entry, `${bad.prelude}\n${readFileSync(entry, 'utf8')}`);
  }
  const yaml = `state_dir: ./state
detection: { enabled: false }
correlation: { enabled: false }
enrichment: { enabled: false }
pipeline: { publish: all }
orchestrator: { collection_interval_seconds: 0.05, interval_jitter: 0, health_check_interval_seconds: 0.2, unresponsive_after_seconds: 2, poll_timeout_seconds: 20 }
supervisor: { backoff_min_seconds: 0.05, backoff_max_seconds: 0.1, restart_intensity: 1, restart_period_seconds: 60, shutdown_timeout_seconds: 5 }
collectors:
  - id: good
    plugin: plugin-good
  - id: bad
    plugin: plugin-bad
${bad.collector ?? ''}sink: { type: jsonl }
`;
  writeFileSync(join(dir, 'fabric.yaml'), yaml);
  return { dir, yaml };
}

describe('a misbehaving source plugin ends only its own worker', () => {
  for (const bad of cases) {
    it(`${bad.name}: the collector ends restarting/failed with ${bad.code}; the good one keeps delivering and /health answers`, async () => {
      const { dir, yaml } = project(bad);
      const sink = new MemorySink();
      const orch = await composeFabric(parseConfig(yaml, join(dir, 'fabric.yaml'), process.env), { cwd: dir, logger: silentLogger(), env: process.env, sink });
      const token = 'isolation-test-token-0123456789abcdef';
      const app = await buildAdminApp(orch, {}, { logger: silentLogger(), token });
      const good = () => sink.events.filter((e) => (e as { fabric?: { collector?: string } }).fabric?.collector === 'good').length;
      const healthTimes: number[] = [];
      await orch.start();
      try {
        // Until the bad one has used its one restart and failed, the good one must keep going.
        let before = good();
        let progressAt = Date.now();
        await until(
          async () => {
            const t0 = performance.now();
            const res = await app.inject({ url: '/health' });
            healthTimes.push(performance.now() - t0);
            expect(res.statusCode).toBeLessThan(500);
            const now = good();
            if (now > before) progressAt = Date.now();
            before = now;
            // The good one polls every 50 ms: 3 s without a new event would mean the bad one holds it up.
            expect(Date.now() - progressAt).toBeLessThan(3000);
            return orch.getCollector('bad')?.state === 'failed';
          },
          30_000,
          50,
        );
        const detail = orch.getCollector('bad')!;
        expect(detail.lastError?.code).toBe(bad.code);
        const path = orch.transitions('bad')!.map((t) => t.to);
        // Each loss went through restarting (within the budget), then the budget ended it.
        expect(path).toContain('restarting');
        expect(path.at(-1)).toBe('failed');
        expect(orch.getCollector('good')!.state).toBe('running');
        expect(good()).toBeGreaterThan(20);
        // Loose for a loaded CI machine; inline, the busy plugin would hold /health for 5 s or for ever.
        expect(Math.max(...healthTimes)).toBeLessThan(2500);
      } finally {
        const t0 = Date.now();
        await orch.stop();
        await app.close();
        // Graceful: within supervisor.shutdown_timeout_seconds, whatever the bad worker was doing.
        expect(Date.now() - t0).toBeLessThan(5000 + 1000);
      }
    }, 60_000);
  }

  it('200,000 events for maxEvents 100: refused in the worker as CONTRACT_VIOLATION, none delivered, the good one unaffected', async () => {
    const bad: Case = {
      name: 'flood',
      body: source(`return { events: Array.from({ length: 200000 }, (_, i) => ({ '@timestamp': '2026-01-01T00:00:00Z', message: 'flood ' + i })), checkpoint: { n: 1 } };`),
      code: 'CONTRACT_VIOLATION',
    };
    const { dir, yaml } = project(bad);
    const sink = new MemorySink();
    const orch = await composeFabric(parseConfig(yaml, join(dir, 'fabric.yaml'), process.env), { cwd: dir, logger: silentLogger(), env: process.env, sink });
    await orch.start();
    try {
      await until(() => (orch.getCollector('bad')?.metrics.pollErrors ?? 0) >= 2, 20_000);
      const detail = orch.getCollector('bad')!;
      expect(detail.lastError?.code).toBe('CONTRACT_VIOLATION');
      expect(detail.lastError?.message).toMatch(/200000 events for maxEvents 100/);
      expect(detail.metrics.eventsCollected).toBe(0);
      expect(detail.checkpoint.value).toBeUndefined();
      expect(sink.events.some((e) => (e as { fabric?: { collector?: string } }).fabric?.collector === 'bad')).toBe(false);
      await until(() => sink.events.length > 20);
      expect(orch.getCollector('good')!.state).toBe('running');
    } finally {
      await orch.stop();
    }
  }, 60_000);

  it('events JSON cannot carry (BigInt, a cycle, a throwing getter) are dead-lettered one by one; the rest of their batch and the checkpoint go on', async () => {
    const bad: Case = {
      name: 'hostile events',
      body: source(`
        if (checkpoint) return { events: [], checkpoint };
        const cyclic = { '@timestamp': '2026-01-01T00:00:02Z', message: 'cyclic' }; cyclic.self = cyclic;
        const getter = { '@timestamp': '2026-01-01T00:00:03Z' }; Object.defineProperty(getter, 'message', { enumerable: true, get() { throw new Error('gotcha'); } });
        return { events: [
          { '@timestamp': '2026-01-01T00:00:00Z', message: 'first fine' },
          { '@timestamp': '2026-01-01T00:00:01Z', message: 'big', bytes: 10n },
          cyclic, getter,
          { '@timestamp': '2026-01-01T00:00:04Z', message: 'last fine' },
        ], checkpoint: { done: true } };`),
      code: '',
    };
    const { dir, yaml } = project(bad);
    const sink = new MemorySink();
    const orch = await composeFabric(parseConfig(yaml, join(dir, 'fabric.yaml'), process.env), { cwd: dir, logger: silentLogger(), env: process.env, sink });
    await orch.start();
    try {
      await until(() => orch.getCollector('bad')?.checkpoint.value !== undefined, 20_000);
      const fromBad = sink.events.filter((e) => (e as { fabric?: { collector?: string } }).fabric?.collector === 'bad').map((e) => (e as { message?: string }).message);
      expect(fromBad.sort()).toEqual(['first fine', 'last fine']);
      expect(orch.getCollector('bad')!.checkpoint.value).toEqual({ done: true });
      const letters = orch.deadLetters!(10, 'bad').records;
      expect(letters.map((r) => r.reason.code).sort()).toEqual(['CYCLE', 'NOT_JSON', 'UNREADABLE']);
      // The dead letter keeps what the event looked like in the worker.
      expect(letters.find((r) => r.reason.code === 'NOT_JSON')!.original).toContain('big');
      expect(orch.getCollector('bad')!.state).toBe('running');
    } finally {
      await orch.stop();
    }
  }, 30_000);

  it('events from a worker are held to pipeline limits and renames like any other: too deep, too large and "__proto__" keys', async () => {
    // The host checks a worker's batch in place rather than copying it (events/sanitize.ts,
    // fitsAsParsedJson): what it refuses and renames must not change.
    const bad: Case = {
      name: 'events at the limits',
      body: source(`
        if (checkpoint) return { events: [], checkpoint };
        const proto = JSON.parse('{"@timestamp":"2026-01-01T00:00:02Z","message":"proto","user":{"__proto__":{"admin":true}}}');
        return { events: [
          { '@timestamp': '2026-01-01T00:00:00Z', message: 'first fine', a: { b: { c: 'three deep' } } },
          { '@timestamp': '2026-01-01T00:00:01Z', message: 'deep', a: { b: { c: { d: { e: 'six deep' } } } } },
          proto,
          { '@timestamp': '2026-01-01T00:00:03Z', message: 'large', blob: 'x'.repeat(3000) },
          { '@timestamp': '2026-01-01T00:00:04Z', message: 'last fine', list: [1, 'two', null, true] },
        ], checkpoint: { done: true } };`),
      code: '',
    };
    const { dir, yaml } = project(bad);
    const limited = yaml.replace('pipeline: { publish: all }', 'pipeline: { publish: all, max_event_depth: 4, max_event_bytes: 2000 }');
    expect(limited).not.toBe(yaml);
    const sink = new MemorySink();
    const orch = await composeFabric(parseConfig(limited, join(dir, 'fabric.yaml'), process.env), { cwd: dir, logger: silentLogger(), env: process.env, sink });
    await orch.start();
    try {
      await until(() => orch.getCollector('bad')?.checkpoint.value !== undefined, 20_000);
      const fromBad = sink.events.filter((e) => (e as { fabric?: { collector?: string } }).fabric?.collector === 'bad') as Array<Record<string, unknown>>;
      const byMessage = new Map(fromBad.map((e) => [e.message, e]));
      expect([...byMessage.keys()].sort()).toEqual(['first fine', 'last fine', 'proto']);
      expect(byMessage.get('first fine')!.a).toEqual({ b: { c: 'three deep' } });
      expect(byMessage.get('last fine')!.list).toEqual([1, 'two', null, true]);
      const user = byMessage.get('proto')!.user as Record<string, unknown>;
      expect(Object.keys(user)).toEqual(['__proto___']);
      expect(user.__proto___).toEqual({ admin: true });
      expect(Object.getPrototypeOf(user)).toBe(Object.prototype);
      const letters = orch.deadLetters!(10, 'bad').records;
      expect(letters.map((r) => r.reason.code).sort()).toEqual(['TOO_DEEP', 'TOO_LARGE']);
    } finally {
      await orch.stop();
    }
  }, 30_000);

  it('shows the worker in GET /collectors/:id: isolation, heap and event-loop use; an inline collector says inline', async () => {
    const { dir, yaml } = project({ name: 'fine', body: GOOD, code: '', collector: '    isolation: inline\n' });
    const sink = new MemorySink();
    const orch = await composeFabric(parseConfig(yaml, join(dir, 'fabric.yaml'), process.env), { cwd: dir, logger: silentLogger(), env: process.env, sink });
    const token = 'isolation-test-token-0123456789abcdef';
    const app = await buildAdminApp(orch, {}, { logger: silentLogger(), token });
    await orch.start();
    try {
      await until(() => (orch.getCollector('good')?.resources?.heapUsedBytes ?? 0) > 0, 10_000);
      const res = await app.inject({ url: '/collectors/good', headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
      const r = (res.json() as { resources: Record<string, number | string> }).resources;
      expect(r.isolation).toBe('worker');
      expect(r.heapUsedBytes).toBeGreaterThan(1_000_000);
      expect(r.heapLimitBytes).toBeGreaterThan(r.heapUsedBytes as number);
      expect(r.eventLoopUtilization).toBeGreaterThanOrEqual(0);
      expect(r.eventLoopUtilization).toBeLessThanOrEqual(1);
      expect(typeof r.threadId).toBe('number');
      const metrics = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } });
      expect(Number(/^fabric_collector_worker_heap_used_bytes\{collector="good"\} (\d+)/m.exec(metrics.body)?.[1])).toBeGreaterThan(1_000_000);
      expect(metrics.body).toMatch(/^fabric_collector_worker_event_loop_utilization\{collector="good"\} [\d.e-]+$/m);
      expect(metrics.body).not.toMatch(/worker_heap_used_bytes\{collector="bad"\}/);
      const inline = await app.inject({ url: '/collectors/bad', headers: { authorization: `Bearer ${token}` } });
      expect((inline.json() as { resources: unknown }).resources).toEqual({ isolation: 'inline' });
    } finally {
      await orch.stop();
      await app.close();
    }
  }, 30_000);

  it('fabric validate refuses a plugin that exits at import, naming it and the code, without exiting itself', async () => {
    const { dir, yaml } = project(cases.find((c) => c.prelude)!);
    const { resolveComponents } = await import('../../src/plugins/resolve.js');
    const { searchRoots } = await import('../../src/plugins/loader.js');
    const err = await resolveComponents(parseConfig(yaml, join(dir, 'fabric.yaml'), process.env), searchRoots(dir)).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/collectors\[1\]\.plugin.*plugin-bad.*EXITED.*exited with code 3/s);
  }, 30_000);
});
