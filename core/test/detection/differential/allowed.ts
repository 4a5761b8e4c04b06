import type { Event } from './generate.js';

export interface Disagreement {
  file: string;
  ruleId: string;
  event: Event;
  /** What the generator aimed at (positive / near-miss of which selection). */
  kind: string;
  ours: boolean;
  pysigma: boolean;
  /** The rule's detection block. */
  detection: Record<string, unknown>;
}

export interface Allowance {
  /** The clause of the Sigma specification that decides the case, and why our verdict follows it. */
  reason: string;
  applies(d: Disagreement): boolean;
}

/** Disagreements with pySigma + SQLite that are the other evaluator's, each with the spec clause. */
export const ALLOWED: Allowance[] = [
  {
    reason:
      'base64/base64offset: the Sigma specification (modifiers, "base64: the value is encoded with Base64") matches the encoded ' +
      'value; a Base64 alphabet is case-significant (RFC 4648 §4: "A" and "a" are the digits 0 and 26), so folding the case of ' +
      'an encoding matches the encodings of other plaintexts. We compare encoded values case-sensitively; the SQLite backend ' +
      'emits them as LIKE, which ignores ASCII case (its README: "LIKE ignores case"). Seen on events whose case was swapped.',
    applies: (d) => !d.ours && d.pysigma && d.kind.startsWith('positive, case swapped') && JSON.stringify(d.detection).includes('|base64'),
  },
];
