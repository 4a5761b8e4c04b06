import type pino from 'pino';
import type { Registry } from 'prom-client';
import { counter, gauge, histogram } from '../metrics/register.js';
import type { FabricEvent } from '../plugin-api/index.js';
import { getField, setField } from '../plugin-api/index.js';
import type { PipelineStage } from '../pipeline/stage.js';
import { withTimeout } from '../async/time.js';
import { annotateDetection } from './annotate.js';
import type { DetectionConfig } from './config.js';
import { DetectionEngine, type EngineSpec, type RuleInfo } from './engine.js';
import { flattenEvent } from './flatten.js';
import { DetectionPool, DetectionTaskError, type IsolatedBatchResult, type SkippedRecord } from './pool.js';
import { loadDetection } from './sigma/loader.js';
import { RuleRefusal, type Refusal } from './sigma/errors.js';

export interface DetectionStageContext {
  logger: pino.Logger;
  metrics: Registry;
  configDir: string;
}

export interface DetectionStage extends PipelineStage {
  /** True when the worker pool is saturated: sources should wait on `drain()` before polling more. */
  readonly needsDrain: boolean;
  drain(): Promise<void>;
  /** Loaded rules (after overrides) and the ones refused at load. */
  readonly rules: RuleInfo[];
  readonly refusals: Refusal[];
  /** Resolves once every worker has built the engine; fails with DETECTION_WORKERS_DOWN when none can. */
  start(): Promise<void>;
  /** Whether the worker pool can evaluate events now (the admin API's readiness). */
  readiness(): { ok: boolean; detail?: string };
  stop(): Promise<void>;
}

/**
 * How long start-up waits for the workers to build the engine. The main thread has built the same
 * rules already (under a second for SigmaHQ's Linux set), so this only catches a worker that hangs.
 */
const LOAD_DEADLINE_MS = 120_000;

/** Text fields the event already carries keep their value; extraction only fills what is missing. */
const NEVER_WRITE_BACK = new Set(['message', 'event.original']);
const ARRAY_FIELDS = new Set(['event.category', 'event.type']);

export async function buildEngineSpec(config: DetectionConfig, configDir: string): Promise<{ spec: EngineSpec; refusals: Refusal[]; warnings: string[] }> {
  const { spec, loaded, warnings } = await loadDetection(config, configDir);
  return { spec, refusals: loaded.refusals, warnings: [...warnings, ...loaded.neverFires.map((w) => w.message)] };
}

export async function createDetectionStage(config: DetectionConfig, ctx: DetectionStageContext): Promise<DetectionStage> {
  const log = ctx.logger.child({ component: 'detection' });
  if (!config.enabled) {
    return {
      name: 'detection',
      needsDrain: false,
      rules: [],
      refusals: [],
      drain: async () => {},
      process: async (batch) => batch,
      start: async () => {},
      readiness: () => ({ ok: true, detail: 'detection disabled' }),
      stop: async () => {},
    };
  }
  const { spec, refusals, warnings } = await buildEngineSpec(config, ctx.configDir);
  for (const r of refusals) log.warn({ file: r.file, line: r.line, feature: r.feature, rule: r.rule }, `Sigma rule refused: ${r.message}`);
  for (const w of warnings) log.warn(w);

  // Compile once on the main thread: a bad extractor fails here with its name, not in a worker.
  let rules: RuleInfo[];
  let extractorNames: string[];
  try {
    const compiled = new DetectionEngine(spec);
    rules = compiled.info();
    extractorNames = compiled.extractors.map((x) => x.name);
  } catch (e) {
    if (e instanceof RuleRefusal) throw new Error(`detection config: ${e.message}`);
    throw e;
  }
  log.info({ rules: rules.length, refused: refusals.length }, 'detection rules loaded');

  const m = ctx.metrics;
  const events = counter(m, { name: 'fabric_detection_events_total', help: 'Events evaluated by the detection engine' });
  const signals = counter(m, { name: 'fabric_detection_signals_total', help: 'Rule matches', labelNames: ['rule', 'level'] });
  const failed = counter(m, {
    name: 'fabric_detection_failed_batches_total',
    help: 'Batches passed through undetected (the pool closed or failed under them)',
    labelNames: ['reason'],
  });
  const skippedEvents = counter(m, {
    name: 'fabric_detection_skipped_events_total',
    help: 'Events delivered undetected because evaluating them stalled (timeout) or killed (worker) a detection worker; the rest of their batch was evaluated',
    labelNames: ['reason', 'collector'],
  });
  const retried = counter(m, { name: 'fabric_detection_retried_tasks_total', help: 'Detection tasks run again after a worker was stopped under them' });
  const truncated = counter(m, { name: 'fabric_detection_truncated_fields_total', help: 'Fields cut to detection.max_line_bytes' });
  const seconds = histogram(m, { name: 'fabric_detection_batch_seconds', help: 'Time to evaluate one batch on the pool' });
  const inflight = gauge(m, { name: 'fabric_detection_tasks_in_flight', help: 'Detection tasks queued or running' });
  const ruleCount = gauge(m, { name: 'fabric_detection_rules', help: 'Rules loaded and refused', labelNames: ['state'] });
  ruleCount.set({ state: 'loaded' }, rules.length);
  ruleCount.set({ state: 'refused' }, refusals.length);

  const pool = new DetectionPool({
    spec,
    threads: config.pool_size,
    taskTimeoutMs: config.task_timeout_ms,
    maxQueue: config.max_queue,
    onWorkerError: (err) =>
      log.error({ err: err.message }, 'a detection worker failed outside any task (while starting): the pool goes on with the workers it has, and starts new ones when tasks wait'),
  });
  const batchSize = config.batch_size ?? 2000;

  async function runChunk(chunk: FabricEvent[]): Promise<void> {
    const records = chunk.map((e) => flattenEvent(e as unknown as Record<string, unknown>));
    const end = seconds.startTimer();
    inflight.inc();
    let res: IsolatedBatchResult;
    try {
      res = await pool.evaluate(records);
    } catch (e) {
      const reason = e instanceof DetectionTaskError ? e.reason : 'worker';
      failed.inc({ reason });
      log.warn({ events: chunk.length, reason, first_event: chunk[0]?.event?.id }, `${(e as Error).message}; this batch passes undetected`);
      return;
    } finally {
      inflight.dec();
      end();
    }
    events.inc(chunk.length - res.skipped.length);
    if (res.truncated) truncated.inc(res.truncated);
    if (res.retries) retried.inc(res.retries);
    for (const s of res.skipped) reportSkipped(chunk[s.index]!, s);
    // Counted per rule here and added once per chunk: a labelled inc per match hashes its labels.
    const perRule = new Map<RuleInfo, number>();
    for (let i = 0; i < chunk.length; i++) {
      const ev = chunk[i] as unknown as Record<string, unknown>;
      const x = res.extracted[i];
      if (x) {
        for (const [k, v] of Object.entries(x)) {
          if (NEVER_WRITE_BACK.has(k) || getField(ev, k) !== undefined) continue;
          setField(ev, k, ARRAY_FIELDS.has(k) && !Array.isArray(v) ? [v] : v);
        }
      }
      const mi = res.matches[i];
      if (mi) {
        const matched = mi.map((j) => rules[j]!);
        annotateDetection(ev, matched);
        for (const r of matched) perRule.set(r, (perRule.get(r) ?? 0) + 1);
      }
    }
    for (const [r, n] of perRule) signals.inc({ rule: r.name, level: r.level }, n);
  }

  /**
   * The event goes on undetected but marked (`fabric.detection.skipped`), counted and logged with what
   * was running on it; of its text only a short prefix is logged, since the line is attacker-written.
   */
  function reportSkipped(ev: FabricEvent, s: SkippedRecord): void {
    const where = s.at >= 0 ? { rule: rules[s.at]?.name } : s.at <= -2 ? { extractor: extractorNames[-2 - s.at] } : {};
    const collector = typeof ev.fabric?.collector === 'string' ? ev.fabric.collector : 'unknown';
    const fabric = (ev.fabric ??= {} as FabricEvent['fabric']);
    fabric.detection = { skipped: s.reason, ...where };
    skippedEvents.inc({ reason: s.reason, collector });
    const text = getField(ev as unknown as Record<string, unknown>, 'message') ?? getField(ev as unknown as Record<string, unknown>, 'event.original');
    log.warn(
      { collector, event_id: ev.event?.id, reason: s.reason, ...where, prefix: typeof text === 'string' ? text.slice(0, 40) : undefined },
      s.reason === 'timeout'
        ? `detection skipped one event: it kept a worker busy over task_timeout_ms (${config.task_timeout_ms ?? 10_000} ms); it is delivered undetected, the rest of its batch was evaluated`
        : 'detection skipped one event: its worker died while evaluating it; it is delivered undetected, the rest of its batch was evaluated',
    );
  }

  return {
    name: 'detection',
    rules,
    refusals,
    get needsDrain() {
      return pool.needsDrain;
    },
    drain: () => pool.drain(),
    async start() {
      try {
        await withTimeout(
          pool.ready(),
          LOAD_DEADLINE_MS,
          () => new DetectionTaskError('start', `the detection workers did not finish loading the rules within ${LOAD_DEADLINE_MS / 1000} s`),
        );
      } catch (e) {
        await pool.close();
        throw e;
      }
    },
    readiness() {
      const down = pool.failure;
      return down ? { ok: false, detail: down.message } : { ok: true, detail: `worker pool up, ${rules.length} rules` };
    },
    async process(batch) {
      const chunks: Promise<void>[] = [];
      for (let i = 0; i < batch.length; i += batchSize) chunks.push(runChunk(batch.slice(i, i + batchSize)));
      await Promise.all(chunks);
      return batch;
    },
    async stop() {
      await pool.close();
    },
  };
}
