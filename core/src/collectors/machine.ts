import { assign, fromCallback, fromPromise, not, raise, setup, stateIn, type AnyEventObject, type StateValue } from 'xstate';
import type { HealthReport } from '../plugin-api/index.js';
import { codesHandled } from '../errors/codes.js';
import { timerDelay } from '../async/time.js';
import type { CollectorState, LastError } from '../host.js';
import { backoffDelay, budgetExceeded, recordRestart, type RestartPolicy } from '../supervisor/policy.js';

export interface ErrorInfo {
  code: string;
  message: string;
  retriable: boolean;
  retryAfterMs?: number;
}

export type CollectorEvent =
  /** `paused`: come up paused, without polling (cluster mode: a collector paused by an operator moved here). */
  | { type: 'START'; paused?: boolean }
  | { type: 'STOP' }
  | { type: 'PAUSE' }
  | { type: 'RESUME' }
  | { type: 'RESTART' }
  | { type: 'POLL_OK' }
  | { type: 'POLL_ERROR'; error: ErrorInfo }
  /** The plugin instance is gone (its worker crashed, exited, blocked or ran out of memory): only a restart helps. */
  | { type: 'INSTANCE_LOST'; error: ErrorInfo }
  | { type: 'STALLED'; reason: string }
  /** `run --once`: the source was read to the end (or the run's first error ended it); stop. */
  | { type: 'FINISHED' }
  | { type: 'HEALTH'; report: HealthReport };

export interface MachinePolicy extends RestartPolicy {
  /** Consecutive poll errors that make a collector degraded. */
  degradedAfterErrors: number;
  /** With auto-restart, health checks spent degraded before a restart. */
  restartDegradedAfterChecks: number;
  autoRestartUnhealthy: boolean;
}

export interface CollectorContext {
  policy: MachinePolicy;
  restartTimes: number[];
  attempt: number;
  consecutiveErrors: number;
  degradedChecks: number;
  lastError?: LastError;
  /** Why the machine is where it is (shown with every transition). */
  reason?: string;
  backoffMs: number;
  restarts: number;
  random: () => number;
  /** Set by `START { paused: true }` until the plugin is up: then the collector rests in `paused`. */
  startPaused: boolean;
}

/** Codes that mean "the backend is not letting us make progress": degraded at once (handling `degrade` in the error table). */
const DEGRADE_AT_ONCE = codesHandled('degrade');

function nextError(prev: LastError | undefined, e: ErrorInfo): LastError {
  if (prev && prev.code === e.code) return { ...prev, message: e.message, retriable: e.retriable, count: prev.count + 1 };
  return { code: e.code, message: e.message, retriable: e.retriable, count: 1, since: new Date().toISOString() };
}

/**
 * The lifecycle of one collector. Actors are supplied by the Collector runtime with
 * `machine.provide`: `startPlugin`/`stopPlugin` (promises), `pollLoop` and `healthLoop`
 * (callbacks that report POLL_OK / POLL_ERROR / STALLED / HEALTH back).
 */
export const collectorMachine = setup({
  types: {
    context: {} as CollectorContext,
    events: {} as CollectorEvent,
    input: {} as { policy: MachinePolicy; random?: () => number },
  },
  actors: {
    startPlugin: fromPromise<void>(async () => undefined),
    stopPlugin: fromPromise<void>(async () => undefined),
    pollLoop: fromCallback<AnyEventObject>(() => () => undefined),
    healthLoop: fromCallback<AnyEventObject>(() => () => undefined),
  },
  delays: {
    // xstate waits with setTimeout: a delay past what it holds would fire after 1 ms.
    backoff: ({ context }) => timerDelay(context.backoffMs),
    stable: ({ context }) => timerDelay(context.policy.stableAfterMs),
  },
  guards: {
    budgetLeft: ({ context }) => !budgetExceeded(recordRestart(context.restartTimes, Date.now(), context.policy.periodMs), context.policy),
    shouldDegrade: ({ context, event }) => {
      if (event.type !== 'POLL_ERROR') return false;
      return DEGRADE_AT_ONCE.has(event.error.code) || !event.error.retriable || context.consecutiveErrors + 1 >= context.policy.degradedAfterErrors;
    },
    healthSaysRestart: ({ context, event }) =>
      event.type === 'HEALTH' &&
      context.policy.autoRestartUnhealthy &&
      event.report.status !== 'healthy' &&
      context.degradedChecks + 1 >= context.policy.restartDegradedAfterChecks,
    alreadyRecorded: ({ context, event }) => event.type === 'INSTANCE_LOST' && context.reason === `${event.error.code}: ${event.error.message}`,
    healthUnhealthy: ({ event }) => event.type === 'HEALTH' && event.report.status === 'unhealthy',
  },
  actions: {
    recordError: assign(({ context, event }) => {
      if (event.type !== 'POLL_ERROR' && event.type !== 'INSTANCE_LOST') return {};
      return { consecutiveErrors: context.consecutiveErrors + 1, lastError: nextError(context.lastError, event.error), reason: `${event.error.code}: ${event.error.message}` };
    }),
    recordStartError: assign(({ context, event }) => {
      const err = (event as unknown as { error?: { code?: string; message?: string; retriable?: boolean } }).error ?? {};
      const info: ErrorInfo = { code: err.code ?? 'START_FAILED', message: err.message ?? String(err), retriable: err.retriable ?? true };
      return { lastError: nextError(context.lastError, info), reason: `start failed: ${info.code}: ${info.message}` };
    }),
    clearErrors: assign({ consecutiveErrors: 0, degradedChecks: 0, reason: undefined }),
    recordStall: assign(({ event }) => (event.type === 'STALLED' ? { reason: event.reason } : {})),
    countDegradedCheck: assign(({ context, event }) =>
      event.type === 'HEALTH' && event.report.status !== 'healthy'
        ? { degradedChecks: context.degradedChecks + 1, reason: event.report.reason ?? context.reason }
        : { degradedChecks: 0 },
    ),
    scheduleRestart: assign(({ context }) => {
      const now = Date.now();
      return {
        restartTimes: recordRestart(context.restartTimes, now, context.policy.periodMs),
        backoffMs: backoffDelay(context.policy, context.attempt, context.random),
        attempt: context.attempt + 1,
        restarts: context.restarts + 1,
        consecutiveErrors: 0,
        degradedChecks: 0,
      };
    }),
    manualRestart: assign(({ context }) => ({ backoffMs: 0, restarts: context.restarts + 1, reason: 'restart requested by an operator' })),
    resetBudget: assign(({ event }) => ({
      restartTimes: [],
      attempt: 0,
      consecutiveErrors: 0,
      degradedChecks: 0,
      startPaused: event.type === 'START' && event.paused === true,
    })),
    noteStartMode: assign(({ event }) => ({ startPaused: event.type === 'START' && event.paused === true })),
    clearStartMode: assign({ startPaused: false }),
    resetBackoff: assign({ attempt: 0 }),
    giveUp: assign(({ context }) => ({
      reason: `restart budget exhausted: more than ${context.policy.intensity} restarts within ${Math.round(context.policy.periodMs / 1000)}s${context.lastError ? `; last error ${context.lastError.code}: ${context.lastError.message}` : ''}`,
    })),
    noteStop: assign({ reason: 'stopped by request' }),
    noteFinished: assign({ reason: 'run --once finished' }),
  },
}).createMachine({
  id: 'collector',
  initial: 'idle',
  context: ({ input }) => ({
    policy: input.policy,
    restartTimes: [],
    attempt: 0,
    consecutiveErrors: 0,
    degradedChecks: 0,
    backoffMs: 0,
    startPaused: false,
    restarts: 0,
    random: input.random ?? Math.random,
  }),
  states: {
    idle: {
      on: { START: { target: 'starting', actions: 'noteStartMode' }, STOP: 'stopped' },
    },
    starting: {
      invoke: {
        src: 'startPlugin',
        onDone: [
          { guard: ({ context }) => context.startPaused, target: 'active.paused', actions: 'clearErrors' },
          { target: 'active', actions: 'clearErrors' },
        ],
        onError: [
          { guard: 'budgetLeft', target: 'restarting', actions: ['recordStartError', 'scheduleRestart'] },
          { target: 'failed', actions: ['recordStartError', 'giveUp'] },
        ],
      },
      on: { STOP: { target: 'stopping', actions: 'noteStop' } },
    },
    // Where the plugin instance is up. STOP, RESTART and PAUSE mean the same in each of its states.
    active: {
      initial: 'running',
      entry: 'clearStartMode',
      on: {
        PAUSE: { guard: not(stateIn('#collector.active.paused')), target: '.paused' },
        STOP: { target: 'stopping', actions: 'noteStop' },
        RESTART: { target: 'restarting', actions: 'manualRestart' },
        FINISHED: { target: 'stopping', actions: 'noteFinished' },
      },
      states: {
        running: {
          invoke: [{ src: 'pollLoop' }, { src: 'healthLoop' }],
          after: { stable: { actions: 'resetBackoff' } },
          on: {
            POLL_OK: { actions: 'clearErrors' },
            POLL_ERROR: [{ guard: 'shouldDegrade', target: 'degraded', actions: 'recordError' }, { actions: 'recordError' }],
            STALLED: { target: 'degraded', actions: 'recordStall' },
            // Degraded first (the error is shown there), then the same event restarts it from degraded.
            INSTANCE_LOST: { target: 'degraded', actions: ['recordError', raise(({ event }) => event)] },
            HEALTH: [{ guard: 'healthUnhealthy', target: 'degraded', actions: 'countDegradedCheck' }],
          },
        },
        degraded: {
          // Still polling: degraded is about progress, and the first successful poll recovers.
          invoke: [{ src: 'pollLoop' }, { src: 'healthLoop' }],
          on: {
            POLL_OK: { target: 'running', actions: 'clearErrors' },
            POLL_ERROR: { actions: 'recordError' },
            STALLED: { actions: 'recordStall' },
            // Nothing left to poll: restart now, with the backoff and within the budget (restarting → failed past it).
            INSTANCE_LOST: [
              // Raised from running, where the error was already recorded.
              { guard: 'alreadyRecorded', target: '#collector.restarting', actions: 'scheduleRestart' },
              { target: '#collector.restarting', actions: ['recordError', 'scheduleRestart'] },
            ],
            HEALTH: [{ guard: 'healthSaysRestart', target: '#collector.restarting', actions: ['countDegradedCheck', 'scheduleRestart'] }, { actions: 'countDegradedCheck' }],
          },
        },
        paused: {
          on: { RESUME: 'running' },
        },
      },
    },
    restarting: {
      invoke: { src: 'stopPlugin', onError: {} },
      always: { guard: ({ context }) => budgetExceeded(context.restartTimes, context.policy), target: 'failed', actions: 'giveUp' },
      after: { backoff: 'starting' },
      on: { STOP: { target: 'stopped', actions: 'noteStop' } },
    },
    stopping: {
      invoke: { src: 'stopPlugin', onDone: 'stopped', onError: 'stopped' },
    },
    stopped: {
      on: { START: { target: 'starting', actions: 'resetBudget' }, RESTART: { target: 'starting', actions: 'resetBudget' } },
    },
    failed: {
      invoke: { src: 'stopPlugin', onError: {} },
      on: {
        START: { target: 'starting', actions: 'resetBudget' },
        RESTART: { target: 'starting', actions: 'resetBudget' },
        STOP: 'stopped',
      },
    },
  },
});

/**
 * The collector state a machine value stands for: the innermost state (`{ active: 'running' }`
 * is `running`). Operators, the API and the metrics see only these leaf names.
 */
export function leafState(value: StateValue): CollectorState {
  let v: StateValue = value;
  while (typeof v !== 'string') v = Object.values(v)[0] as StateValue;
  return v as CollectorState;
}
