import { roundScore, verdictStatusFor } from '@reactive-fabric/core';
import type { Indicator, Verdict } from '@reactive-fabric/core';
import type { BlockData, CheckData } from './client.js';

export const reference = (ip: string): string => `https://www.abuseipdb.com/check/${ip}`;

/**
 * abuseConfidenceScore is AbuseIPDB's own 0–100 estimate; 75+ is its usual "block" bar. An IP
 * nobody reported is unknown, not clean. A whitelisted IP is clean even with reports, because
 * AbuseIPDB zeroes its score: the reports stay in the evidence.
 */
export function fromCheck(indicator: Indicator, d: CheckData, minScore: number): Verdict {
  const evidence: Record<string, unknown> = {
    abuseConfidenceScore: d.abuseConfidenceScore,
    totalReports: d.totalReports,
    numDistinctUsers: d.numDistinctUsers ?? 0,
    isWhitelisted: d.isWhitelisted ?? null,
    lastReportedAt: d.lastReportedAt ?? null,
    countryCode: d.countryCode ?? null,
    usageType: d.usageType ?? null,
    isp: d.isp ?? null,
    isTor: d.isTor ?? false,
    ...(d.isPublic === false ? { isPublic: false } : {}),
  };
  if (d.isWhitelisted === true) return { indicator, status: 'clean', score: 0, confidence: 0.8, evidence, reference: reference(indicator.value) };
  if (d.totalReports === 0) return { indicator, status: 'unknown', evidence, reference: reference(indicator.value) };
  const score = roundScore(d.abuseConfidenceScore / 100);
  const confidence = roundScore(Math.min(0.95, 0.4 + 0.05 * (d.numDistinctUsers ?? 1)));
  return { indicator, status: verdictStatusFor(score, minScore, 0.75), score, confidence, evidence, reference: reference(indicator.value) };
}

/** check-block lists only reported addresses, and without isWhitelisted. */
export function fromBlock(indicator: Indicator, block: BlockData, minScore: number, network: string): Verdict {
  const hit = block.reportedAddress.find((r) => r.ipAddress === indicator.value);
  if (!hit || hit.numReports === 0) return { indicator, status: 'unknown', evidence: { totalReports: 0, via: 'check-block', network }, reference: reference(indicator.value) };
  const score = roundScore(hit.abuseConfidenceScore / 100);
  return {
    indicator,
    status: verdictStatusFor(score, minScore, 0.75),
    score,
    confidence: 0.6,
    evidence: {
      abuseConfidenceScore: hit.abuseConfidenceScore,
      totalReports: hit.numReports,
      lastReportedAt: hit.mostRecentReport,
      countryCode: hit.countryCode,
      via: 'check-block',
      network,
    },
    reference: reference(indicator.value),
  };
}
