/**
 * Restart policy: exponential backoff with full jitter (delay = random(0, min(max, min·2^n))),
 * reset after a stable run, and an OTP-style budget — more than `intensity` restarts within
 * `periodMs` and the collector is failed, reported, and left for an operator.
 */
export interface RestartPolicy {
  backoffMinMs: number;
  backoffMaxMs: number;
  stableAfterMs: number;
  intensity: number;
  periodMs: number;
}

export function backoffDelay(policy: RestartPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffMinMs * 2 ** Math.min(attempt, 30));
  // Full jitter, but never below the minimum: a zero delay would hammer a dead backend.
  return Math.max(policy.backoffMinMs, Math.floor(random() * ceiling));
}

/** Restart timestamps still inside the period, including one at `now`. */
export function recordRestart(times: readonly number[], now: number, periodMs: number): number[] {
  return [...times.filter((t) => now - t < periodMs), now];
}

export function budgetExceeded(times: readonly number[], policy: RestartPolicy): boolean {
  return times.length > policy.intensity;
}
