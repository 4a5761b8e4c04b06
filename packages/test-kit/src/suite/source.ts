import { isDeepStrictEqual } from 'node:util';
import { ErrorCodes } from '@reactive-fabric/core';
import type { Checkpoint, SourceEvent } from '@reactive-fabric/core';
import { validateEcsEvent } from '../checks/ecs.js';
import { checkpointProblems, classifyError, pollContractProblems } from '../host.js';
import { expectNone, fail } from './context.js';
import type { SuiteContext } from './context.js';
import type { ConformanceCheck } from './types.js';

/**
 * Events and checkpoints of a poll() feed: a source's, or an enricher's when it declares one
 * (options.feed).
 */
export function sourceChecks(s: SuiteContext): ConformanceCheck[] {
  const { options, definitionOk, host } = s;
  const group = s.kind === 'source' ? 'source' : 'enricher feed';
  const minEvents = options.minEvents ?? 1;
  const maxPolls = options.maxPolls ?? 20;
  let drained: { events: SourceEvent[]; perPoll: number[]; checkpoints: Checkpoint[] } | undefined;

  const drain = async (): Promise<NonNullable<typeof drained>> => {
    if (drained) return drained;
    definitionOk();
    const h = await host(s.config, { strict: false });
    const events: SourceEvent[] = [];
    const perPoll: number[] = [];
    const checkpoints: Checkpoint[] = [];
    try {
      await h.start();
      for (let i = 0; i < maxPolls; i++) {
        const r = await h.poll();
        const problems = pollContractProblems(r, 100);
        expectNone(`poll #${i + 1} broke the contract`, problems);
        events.push(...r.events);
        perPoll.push(r.events.length);
        checkpoints.push(h.checkpoint as Checkpoint);
        if (r.events.length === 0 && !r.hasMore) break;
      }
    } catch (err) {
      s.thrown.push(err);
      throw err;
    } finally {
      await h.dispose();
    }
    drained = { events, perPoll, checkpoints };
    return drained;
  };

  return [
    s.check(group, `polls the valid config to the end, yielding at least ${minEvents} valid ECS event(s)`, async () => {
      const { events, perPoll } = await drain();
      if (events.length < minEvents) {
        fail(
          `the valid config yielded ${events.length} events over ${perPoll.length} polls; expected at least ${minEvents} (point validConfig at data: a fake with seeded records or a sample file)`,
        );
      }
      const problems = events.flatMap((e, i) => validateEcsEvent(e).map((p) => `events[${i}].${p}`));
      expectNone('events are not valid ECS', problems.slice(0, 20));
      if (perPoll.length === maxPolls && perPoll[perPoll.length - 1]! > 0) {
        fail(`still returning events after ${maxPolls} polls: does the checkpoint advance? (poll sizes: ${perPoll.join(', ')})`);
      }
    }),
    s.check(group, 'checkpoints are JSON-serialisable, never go backwards, and no event is emitted twice', async () => {
      const { events, checkpoints } = await drain();
      const problems: string[] = [];
      checkpoints.forEach((c, i) => problems.push(...checkpointProblems(c).map((p) => `after poll #${i + 1}: ${p}`)));
      const cmp = options.compareCheckpoints ?? defaultCompare;
      for (let i = 1; i < checkpoints.length; i++) {
        const order = cmp(checkpoints[i - 1]!, checkpoints[i]!);
        if (order !== undefined && order > 0)
          problems.push(`checkpoint went backwards between poll #${i} and #${i + 1}: ${JSON.stringify(checkpoints[i - 1])} → ${JSON.stringify(checkpoints[i])}`);
      }
      problems.push(...duplicates(events));
      expectNone('checkpoint problems', problems);
    }),
    s.check(group, 'resuming from the last committed checkpoint (a new instance, as after a restart) re-emits nothing', async () => {
      const { events, checkpoints } = await drain();
      const last = checkpoints[checkpoints.length - 1];
      const h = await host(s.config, { checkpoint: last });
      try {
        await h.start();
        const r = await h.poll();
        const seen = new Set(events.map(identity));
        const again = r.events.filter((e) => seen.has(identity(e)));
        if (again.length > 0)
          fail(
            `${again.length} event(s) emitted again after resuming from ${JSON.stringify(last)}`,
            again.slice(0, 3).map((e) => JSON.stringify(e).slice(0, 200)),
          );
        if (r.events.length === 0 && !r.hasMore && options.compareCheckpoints) {
          const order = options.compareCheckpoints(last as Checkpoint, h.checkpoint as Checkpoint);
          if (order > 0) fail(`an idle poll moved the checkpoint backwards: ${JSON.stringify(last)} → ${JSON.stringify(h.checkpoint)}`);
        }
      } finally {
        await h.dispose();
      }
    }),
    s.check(group, 'honours maxEvents: small batches deliver the same events, none lost or repeated', async () => {
      const { events } = await drain();
      if (events.length === 0) return;
      const batch = events.length <= 30 ? 1 : Math.ceil(events.length / 10);
      const h = await host(s.config, { maxEvents: batch });
      const small: SourceEvent[] = [];
      try {
        await h.start();
        for (let i = 0; i < Math.ceil(events.length / batch) + 5; i++) {
          const r = await h.poll();
          small.push(...r.events);
          if (r.events.length === 0 && !r.hasMore) break;
        }
      } finally {
        await h.dispose();
      }
      const problems = [...duplicates(small)];
      const bigSet = new Set(events.map(identity));
      const smallSet = new Set(small.map(identity));
      const lost = [...bigSet].filter((k) => !smallSet.has(k));
      if (lost.length > 0)
        problems.push(`${lost.length} of ${bigSet.size} events never arrived with maxEvents=${batch} (is the checkpoint the position after the last returned event?)`);
      expectNone(`polling with maxEvents=${batch}`, problems);
    }),
    s.check(group, 'a poll whose signal is already aborted settles promptly with ABORTED/TIMEOUT or a valid result', async () => {
      definitionOk();
      const h = await host(s.config, { strict: false, abortGraceMs: 2_000 });
      try {
        await h.start();
        const controller = new AbortController();
        controller.abort();
        try {
          const r = await h.poll({ signal: controller.signal });
          expectNone('result of an aborted poll', pollContractProblems(r, 100));
        } catch (err) {
          const { error } = classifyError(err);
          if (error.detail?.ignoredAbort === true) fail(error.message);
          if (error.code !== ErrorCodes.ABORTED && error.code !== ErrorCodes.TIMEOUT) {
            fail(`an aborted poll must reject with ABORTED or TIMEOUT (or let the AbortError through), got ${error.code}: ${error.message}`);
          }
        }
      } finally {
        await h.dispose();
      }
    }),
  ];
}

/** An event's identity across polls: its id, else its content without ingest-time fields. */
function identity(e: SourceEvent): string {
  if (typeof e.event?.id === 'string') return `id:${e.event.id}`;
  const { event, ...rest } = e;
  const ev = event ? { ...event } : undefined;
  if (ev) {
    delete ev.ingested;
    delete ev.created;
  }
  return JSON.stringify({ ...rest, event: ev });
}

function duplicates(events: SourceEvent[]): string[] {
  const seen = new Map<string, number>();
  for (const e of events) seen.set(identity(e), (seen.get(identity(e)) ?? 0) + 1);
  return [...seen.entries()]
    .filter(([, n]) => n > 1)
    .slice(0, 5)
    .map(([k, n]) => `emitted ${n} times: ${k.slice(0, 200)}`);
}

/** Numbers and ISO timestamps compare naturally; other shapes need options.compareCheckpoints. */
function defaultCompare(a: Checkpoint, b: Checkpoint): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string' && !Number.isNaN(Date.parse(a)) && !Number.isNaN(Date.parse(b))) return Date.parse(a) - Date.parse(b);
  if (isDeepStrictEqual(a, b)) return 0;
  return undefined;
}
