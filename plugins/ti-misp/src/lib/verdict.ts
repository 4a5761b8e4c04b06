import type { VerdictStatus } from '@reactive-fabric/core';

/**
 * The status a score maps to. `minScore` (min_reputation_score) is where a seen indicator stops
 * being clean; `maliciousAt` is the source's own bar for "malicious".
 */
export function statusFor(score: number, minScore: number, maliciousAt: number): Exclude<VerdictStatus, 'unknown'> {
  if (score >= Math.max(maliciousAt, minScore)) return 'malicious';
  if (score >= minScore) return 'suspicious';
  return 'clean';
}

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
