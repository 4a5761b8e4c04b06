import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { counter, gauge } from '../metrics/register.js';
import type { FabricEvent } from '../plugin-api/index.js';
import type { BatchTicket, PipelineStage } from '../pipeline/stage.js';
import type { CorrelationConfig } from './config.js';
import { CorrelationEngine, engineLimits } from './engine.js';
import { MAX_PENDING_BATCHES } from './redelivery.js';
import { readCorrelationRules } from './rule-loader.js';
import { CorrelationRuleError } from './rule-problem.js';
import { checkRuleSet, withoutDisabled } from './rule-set.js';
import type { CorrelationRule } from './rule.js';
import { readStateFile, setAsideStateFiles } from './state-file.js';
import { StateJournal } from './state-journal.js';

/** Checkpoints wait at least this many times their own duration, so writing stays under ~10% of the time. */
const CHECKPOINT_BUDGET = 10;

/** The built-in rules ship in the package (`core/rules/correlation`), beside src/ and dist/. */
export const BUILTIN_CORRELATION_RULES_DIR = fileURLToPath(new URL('../../rules/correlation/', import.meta.url));

export interface CorrelationStageContext {
  logger: Logger;
  metrics: Registry;
  /** Absolute state folder (`state_dir`). */
  stateDir: string;
  /** Folder of the config file: relative rule paths resolve against it. */
  configDir: string;
  /** Known detection rules; when given, a reference to none of them (or a correlation rule) is refused at load. */
  detectionRules?: ReadonlyArray<{ id?: string; name?: string }>;
  /** Wall clock, for the future-timestamp guard and alert `event.created` (tests pin it). */
  now?: () => number;
}

export type CorrelationStage = PipelineStage & {
  stop(): Promise<void>;
  readonly rules: readonly CorrelationRule[];
};

/** Rules the stage runs: built-ins (unless turned off) plus configured paths, minus `disabled`. */
export async function resolveCorrelationRules(config: CorrelationConfig, ctx: Pick<CorrelationStageContext, 'configDir' | 'detectionRules'>): Promise<CorrelationRule[]> {
  const paths = [...(config.builtin_rules ? [BUILTIN_CORRELATION_RULES_DIR] : []), ...config.rules.map((p) => path.resolve(ctx.configDir, p))];
  if (paths.length === 0) return [];
  const read = await readCorrelationRules(paths);
  if (read.problems.length > 0) throw new CorrelationRuleError(read.problems);
  // `disabled` applies before the cross-rule checks, so a built-in can be replaced by a rule of the
  // same name (disable the built-in by id).
  const kept = withoutDisabled(read.rules, config.disabled);
  const problems = checkRuleSet(kept, ctx.detectionRules);
  if (problems.length > 0) throw new CorrelationRuleError(problems);
  return kept;
}

/**
 * The pipeline's correlation stage: detections in, the same batch out plus any correlated alerts.
 * State (open windows, fired alerts, alerts still waiting on the sink) is checkpointed under
 * state_dir. An alert counts as written only once *its own* batch is acknowledged: the engine
 * releases unacknowledged batches oldest first, so acknowledgements (which can arrive out of
 * order: a batch with nothing to publish overtakes one still waiting on the sink) go through a
 * ledger keyed by batch ticket and reach the engine only in processing order.
 */
export async function createCorrelationStage(config: CorrelationConfig, ctx: CorrelationStageContext): Promise<CorrelationStage> {
  const log = ctx.logger.child({ component: 'correlation' });
  if (!config.enabled) {
    return {
      name: 'correlation',
      rules: [],
      async process(batch: FabricEvent[]) {
        return batch;
      },
      async stop() {},
    };
  }
  const rules = await resolveCorrelationRules(config, ctx);
  const reg = ctx.metrics;
  const alerts = counter(reg, {
    name: 'fabric_correlation_alerts_total',
    help: 'Correlated alerts fired, by rule (published or only fed to chained rules).',
    labelNames: ['rule', 'published'] as const,
  });
  const late = counter(reg, {
    name: 'fabric_correlation_late_detections_total',
    help: 'Detections more than allowed_lateness_seconds behind the newest @timestamp of their collector: not correlated.',
  });
  const skipped = counter(reg, { name: 'fabric_correlation_skipped_detections_total', help: 'Detections not correlated, by reason.', labelNames: ['reason'] as const });
  const evicted = counter(reg, {
    name: 'fabric_correlation_evicted_keys_total',
    help: 'Correlation groups evicted (least recently used) because max_keys was reached; their open windows are lost.',
  });
  const dropped = counter(reg, { name: 'fabric_correlation_dropped_members_total', help: 'Oldest detections forgotten in a group that reached max_events_per_key.' });
  const duplicates = counter(reg, { name: 'fabric_correlation_duplicates_total', help: 'Re-delivered detections and already-fired windows ignored.' });
  const resent = counter(reg, {
    name: 'fabric_correlation_resent_alerts_total',
    help: 'Alerts sent again after a restart because their batch was never acknowledged and the detection that fired them came back.',
  });
  const keys = gauge(reg, { name: 'fabric_correlation_keys', help: 'Correlation groups (rule × group-by values) in memory.' });
  const watermark = gauge(reg, {
    name: 'fabric_correlation_watermark_seconds',
    help: "Event-time watermark (Unix seconds): windows ending before it are decided. The slowest active collector's newest @timestamp − allowed lateness.",
  });
  const checkpointFailures = counter(reg, { name: 'fabric_correlation_checkpoint_failures_total', help: 'Correlation checkpoints that could not be written.' });
  const checkpointSeconds = gauge(reg, { name: 'fabric_correlation_checkpoint_seconds', help: 'Time the last correlation checkpoint took (snapshot, write, fsync).' });
  const checkpointBytes = gauge(reg, {
    name: 'fabric_correlation_checkpoint_bytes',
    help: 'Size of the last correlation checkpoint (the journal record of what changed since the previous one).',
  });
  gauge(reg, { name: 'fabric_correlation_rules', help: 'Correlation rules loaded.' }).set(rules.length);

  const now = ctx.now ?? Date.now;
  const engine = new CorrelationEngine(rules, {
    ...engineLimits(config),
    now,
    hooks: {
      alert: (rule, emitted) => alerts.inc({ rule: rule.name ?? rule.key, published: String(emitted) }),
      late: () => late.inc(),
      skipped: (reason) => skipped.inc({ reason }),
      evicted: () => evicted.inc(),
      droppedMembers: (n) => dropped.inc(n),
      duplicate: () => duplicates.inc(),
      resent: (n) => resent.inc(n),
    },
  });

  const stateFile = path.resolve(ctx.stateDir, config.state_file);
  const read = await readStateFile(stateFile, {
    now: now(),
    maxClockSkewMs: config.max_clock_skew_seconds * 1000,
    warn: (w) => log.warn({ file: w.file, field: w.field, value: w.value }, w.message),
  });
  let restored = { repaired: 0 };
  if (read.kind === 'ok') {
    const r = (restored = engine.restore(read.state));
    log.info({ file: stateFile, groups: r.groups, dropped: r.dropped, savedAt: read.state.saved_at }, 'correlation state restored');
    if (r.dropped > 0) log.warn({ dropped: r.dropped }, 'correlation groups of changed or removed rules were not restored');
    if (r.repaired > 0) log.warn({ file: stateFile, repaired: r.repaired }, 'correlation groups with impossible times were repaired on restore');
  } else if (read.kind === 'invalid') {
    // Keep the evidence, start empty: a bad checkpoint must not stop the pipeline.
    const aside = `${stateFile}.invalid-${new Date(now()).toISOString().replace(/[:.]/g, '-')}`;
    await setAsideStateFiles(stateFile, aside);
    log.error({ file: stateFile, movedTo: aside, reason: read.reason }, 'correlation checkpoint unusable; starting with empty correlation state');
  }
  // Checkpoints append what changed to a journal; a worker folds the journals into the base file.
  const journal = new StateJournal(stateFile, {
    generation: read.kind === 'ok' ? read.journal.next : 0,
    journalBytes: read.kind === 'ok' ? read.journal.bytes : 0,
    baseBytes: read.kind === 'ok' ? read.journal.baseBytes : 0,
    journalFiles: read.kind === 'ok' ? read.journal.files : 0,
    onCompacted: (r) => log.debug({ file: stateFile, bytes: r.bytes, journals: r.journals, ms: r.ms }, 'correlation checkpoint journals compacted'),
    onCompactionError: (err) => log.error({ file: stateFile, err: err.message }, 'correlation checkpoint compaction failed; the journals are kept and still read at start-up'),
  });
  engine.markClean();
  // Refused parts must not stay on disk to be refused again at every start: the first checkpoint is whole.
  if (read.kind === 'ok' && (read.warnings.length > 0 || restored.repaired > 0)) engine.requireFull();
  log.info({ rules: rules.map((r) => r.name ?? r.key) }, 'correlation rules loaded');

  let lastWrite = 0;
  let gapMs = config.checkpoint_interval_seconds * 1000;
  let lastFailed = false;
  let writing: Promise<void> = Promise.resolve();
  let closed = false;
  const persist = async (force: boolean): Promise<void> => {
    if (!engine.changed && !lastFailed) return writing.catch(() => {});
    if (!force && !lastFailed && gapMs > 0 && now() - lastWrite < gapMs) return;
    // What changed, taken now, synchronously: later batches must not leak into this checkpoint half-way.
    const started = now();
    const { delta, full, retry } = engine.delta();
    lastWrite = started;
    const previous = writing;
    writing = (async () => {
      await previous.catch(() => {});
      try {
        const bytes = await journal.append(delta, full, new Date(now()));
        const took = now() - started;
        checkpointSeconds.set(took / 1000);
        checkpointBytes.set(bytes);
        // Large state under load: spend at most 1/CHECKPOINT_BUDGET of the time writing it.
        if (config.checkpoint_interval_seconds > 0) gapMs = Math.max(config.checkpoint_interval_seconds * 1000, took * CHECKPOINT_BUDGET);
        lastFailed = false;
      } catch (err) {
        // The next checkpoint carries this one's changes too.
        retry();
        lastFailed = true;
        checkpointFailures.inc();
        log.error({ file: stateFile, err: (err as Error).message }, 'correlation checkpoint failed; retried at the next acknowledged batch');
        throw new Error(`correlation checkpoint ${stateFile} could not be written: ${(err as Error).message}`);
      }
    })();
    return writing;
  };

  const close = async () => {
    if (closed) return writing.catch(() => {});
    closed = true;
    try {
      await persist(true);
    } finally {
      await journal.close();
    }
  };

  /** Tickets of processed batches not yet released to the engine, in processing order. */
  const ledger: number[] = [];
  const acknowledged = new Set<number>();
  /** Alerts each pending batch published (its own and any it carried for an abandoned batch). */
  const emitted = new Map<number, FabricEvent[]>();
  /** Batches whose sink write failed, and the batch that re-sent their alerts (once one did). */
  const abandoned = new Map<number, number | undefined>();
  /** Alerts of abandoned batches, sent again with the next batch processed. */
  let owed: Array<{ from: number; alerts: FabricEvent[] }> = [];
  let untracked = 0;

  /** Durable: acknowledged, or abandoned with every alert re-sent by a batch that is durable. */
  const durable = (seq: number, hops = 0): boolean => {
    if (acknowledged.has(seq)) return true;
    if (!abandoned.has(seq) || hops > MAX_PENDING_BATCHES) return false;
    if ((emitted.get(seq) ?? []).length === 0) return true;
    const carrier = abandoned.get(seq);
    return carrier !== undefined && durable(carrier, hops + 1);
  };
  const forget = (seq: number): void => {
    acknowledged.delete(seq);
    abandoned.delete(seq);
    emitted.delete(seq);
  };

  return {
    name: 'correlation',
    rules,
    async process(batch: FabricEvent[], ticket?: BatchTicket): Promise<FabricEvent[]> {
      const seq = ticket?.seq ?? --untracked;
      // engine.process registers the batch as pending before it can throw, so the ledger entry goes first.
      ledger.push(seq);
      // The engine forgets its oldest unacknowledged batch past MAX_PENDING_BATCHES: the ledger follows.
      if (ledger.length > MAX_PENDING_BATCHES) forget(ledger.shift()!);
      const out = engine.process(batch);
      keys.set(engine.groupCount);
      if (Number.isFinite(engine.watermark)) watermark.set(engine.watermark / 1000);
      // The engine counts the detections of a re-read batch as seen and fires nothing: the alerts
      // an abandoned batch owed ride on this one, same ids.
      const carried = owed.flatMap((o) => o.alerts);
      for (const o of owed) abandoned.set(o.from, seq);
      owed = [];
      const alerts = carried.length > 0 ? [...out, ...carried] : out;
      emitted.set(seq, alerts);
      return alerts.length > 0 ? [...batch, ...alerts] : batch;
    },
    async acknowledge(ticket: BatchTicket) {
      // A ticket this stage never processed releases nothing, but is still a chance to persist.
      if (ledger.includes(ticket.seq)) acknowledged.add(ticket.seq);
      // The engine releases its oldest pending batch on each acknowledge(): call it in ledger order.
      while (ledger.length > 0 && durable(ledger[0]!)) {
        forget(ledger.shift()!);
        engine.acknowledge();
      }
      // Safe whatever is still pending: the snapshot keeps unacknowledged alerts for re-sending.
      await persist(false);
    },
    abandon(ticket: BatchTicket) {
      if (!ledger.includes(ticket.seq)) return;
      abandoned.set(ticket.seq, undefined);
      const alerts = emitted.get(ticket.seq) ?? [];
      if (alerts.length > 0) owed.push({ from: ticket.seq, alerts });
    },
    async flush() {
      await persist(true);
    },
    stop: close,
  };
}
