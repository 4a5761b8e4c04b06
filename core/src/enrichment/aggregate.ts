import type { Indicator, Verdict, VerdictStatus } from '../plugin-api/index.js';

/** One asked source's part for one indicator: a verdict, or why there is none. */
export interface SourceAnswer {
  source: string;
  weight: number;
  verdict?: Verdict;
  /** Set when the source gave no verdict: DEADLINE, QUOTA_EXHAUSTED, AUTH_FAILED, … and, for DEADLINE, where the lookup stands. */
  unanswered?: { reason: string; detail?: string };
}

export interface IndicatorAnswers {
  indicator: Indicator;
  fields: string[];
  answers: SourceAnswer[];
}

export interface AggregationSettings {
  defaultConfidence: number;
  maliciousAt: number;
  suspiciousAt: number;
}

export interface IndicatorReputation {
  indicator: Indicator;
  score?: number;
  confidence: number;
  verdict: VerdictStatus;
}

export interface Reputation {
  score?: number;
  confidence: number;
  verdict: VerdictStatus;
  /** The indicator that decided the score, if any source knew one. */
  decidedBy?: Indicator;
  indicators: IndicatorReputation[];
  sourcesAnswered: string[];
  sourcesUnanswered: Array<{ source: string; reason: string; indicators: number }>;
  explanation: string;
}

/** Score a verdict stands for when the source gave only a status. */
export const STATUS_SCORE: Record<Exclude<VerdictStatus, 'unknown'>, number> = { malicious: 1, suspicious: 0.6, clean: 0 };

/**
 * The reputation formula, deterministic and order-independent in its sources:
 *
 *   per indicator i, over sources s that gave a verdict other than "unknown":
 *     score_i      = Σ w_s·c_s·x_s / Σ w_s·c_s        (confidence-and-weight-weighted mean)
 *     confidence_i = min(1, Σ w_s·c_s / Σ_asked w_s)  (share of the evidence we could have had)
 *   x_s = the source's score (or 1 / 0.6 / 0 for malicious / suspicious / clean),
 *   c_s = its confidence (or aggregation.default_confidence), w_s = aggregation.weights.
 *   The event takes the highest-scoring indicator (ties: higher confidence, then first found),
 *   because one malicious address makes the event malicious whatever else it mentions.
 *   No source knowing any indicator gives verdict "unknown" — never "clean".
 */
export function aggregate(indicators: IndicatorAnswers[], s: AggregationSettings): Reputation {
  return combine(
    indicators,
    indicators.map((ia) => summarizeIndicator(ia, s)),
  );
}

/** One indicator's part of the reputation: the same for the same indicator and answers, so it can be reused. */
export interface IndicatorSummary {
  rep: IndicatorReputation;
  /** Its sentence in the explanation. */
  line: string;
  /** Unrounded, for choosing the event's deciding indicator. */
  score?: number;
  confidence?: number;
}

export function summarizeIndicator(ia: IndicatorAnswers, s: AggregationSettings): IndicatorSummary {
  const answers = ia.answers.length > 1 ? [...ia.answers].sort((a, b) => a.source.localeCompare(b.source)) : ia.answers;
  let num = 0;
  let den = 0;
  let asked = 0;
  const parts: string[] = [];
  for (const a of answers) {
    asked += a.weight;
    const v = a.verdict;
    if (!v || v.status === 'unknown') continue;
    const x = v.score ?? STATUS_SCORE[v.status];
    const c = v.confidence ?? s.defaultConfidence;
    num += a.weight * c * x;
    den += a.weight * c;
    parts.push(`${a.source} ${v.status} ${fmt(x)} (weight ${fmtW(a.weight)} × confidence ${fmt(c, 2)})`);
  }
  const label = `${ia.indicator.type} ${ia.indicator.value}`;
  const unknownTo = answers.filter((a) => a.verdict?.status === 'unknown').map((a) => a.source);
  const unanswered = answers.filter((a) => !a.verdict).map((a) => `${a.source} (${a.unanswered?.reason ?? 'no answer'}${a.unanswered?.detail ? `, ${a.unanswered.detail}` : ''})`);
  const tail = [unknownTo.length ? `unknown to ${unknownTo.join(', ')}` : '', unanswered.length ? `unanswered: ${unanswered.join(', ')}` : ''].filter(Boolean).join('; ');
  if (den > 0) {
    const score = num / den;
    const confidence = asked > 0 ? Math.min(1, den / asked) : 0;
    return {
      rep: { indicator: ia.indicator, score: round(score), confidence: round(confidence), verdict: verdictOf(score, s) },
      line: `${label}: ${fmt(score)} = weighted mean of ${parts.join(', ')}; confidence ${fmt(confidence)} = ${fmt(den, 2)} answered weight·confidence / ${fmtW(asked)} asked weight${tail ? `; ${tail}` : ''}`,
      score,
      confidence,
    };
  }
  return {
    rep: { indicator: ia.indicator, confidence: 0, verdict: 'unknown' },
    line: `${label}: no verdict${tail ? ` (${tail})` : answers.length === 0 ? ' (no enabled source checks this type)' : ''}`,
  };
}

/** The event's reputation from its indicators' summaries (summarizeIndicator, possibly reused). */
export function combine(indicators: IndicatorAnswers[], summaries: IndicatorSummary[]): Reputation {
  const perIndicator: IndicatorReputation[] = [];
  const lines: string[] = [];
  let best: { rep: IndicatorReputation; score: number; confidence: number } | undefined;
  for (const sum of summaries) {
    perIndicator.push(sum.rep);
    lines.push(sum.line);
    if (sum.score === undefined) continue;
    const confidence = sum.confidence!;
    if (!best || sum.score > best.score || (sum.score === best.score && confidence > best.confidence)) best = { rep: sum.rep, score: sum.score, confidence };
  }

  const answered = new Set<string>();
  const unansweredBy = new Map<string, { reasons: Set<string>; indicators: number }>();
  for (const ia of indicators) {
    for (const a of ia.answers) {
      if (a.verdict) {
        answered.add(a.source);
        continue;
      }
      const u = unansweredBy.get(a.source) ?? { reasons: new Set<string>(), indicators: 0 };
      u.reasons.add(a.unanswered?.reason ?? 'NO_ANSWER');
      u.indicators++;
      unansweredBy.set(a.source, u);
    }
  }
  const sourcesAnswered = [...answered].sort();
  const sourcesUnanswered = [...unansweredBy.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([source, u]) => ({ source, reason: [...u.reasons].sort().join(', '), indicators: u.indicators }));

  let head: string;
  if (best) {
    head = `score ${fmt(best.rep.score!)} (${best.rep.verdict}) from ${best.rep.indicator.type} ${best.rep.indicator.value}, the highest-scoring of ${indicators.length} indicator${indicators.length === 1 ? '' : 's'}, confidence ${fmt(best.rep.confidence)}`;
  } else if (indicators.length === 0) {
    head = 'no indicator to look up';
  } else {
    head = `unknown: no source had a verdict for any of ${indicators.length} indicator${indicators.length === 1 ? '' : 's'}`;
  }
  const out: Reputation = {
    confidence: 0,
    verdict: 'unknown',
    indicators: perIndicator,
    sourcesAnswered,
    sourcesUnanswered,
    explanation: lines.length ? `${head}. ${lines.join('. ')}` : head,
  };
  if (best) {
    out.score = best.rep.score;
    out.decidedBy = best.rep.indicator;
    out.confidence = best.rep.confidence;
    out.verdict = best.rep.verdict;
  }
  return out;
}

function verdictOf(score: number, s: AggregationSettings): VerdictStatus {
  if (score >= s.maliciousAt) return 'malicious';
  if (score >= s.suspiciousAt) return 'suspicious';
  return 'clean';
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function fmt(x: number, digits = 3): string {
  return x.toFixed(digits);
}

function fmtW(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(2);
}
