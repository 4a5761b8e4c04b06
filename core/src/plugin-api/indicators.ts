/** Indicators of compromise that enrichers look up. */
export type IndicatorType = 'ipv4' | 'ipv6' | 'domain' | 'url' | 'md5' | 'sha1' | 'sha256';
export const INDICATOR_TYPES: readonly IndicatorType[] = ['ipv4', 'ipv6', 'domain', 'url', 'md5', 'sha1', 'sha256'];

export interface Indicator {
  type: IndicatorType;
  value: string;
}

/**
 * One source's opinion about one indicator. `unknown` means the source has never seen it:
 * it is a result, never an error and never "clean".
 */
export type VerdictStatus = 'malicious' | 'suspicious' | 'clean' | 'unknown';

export interface Verdict {
  indicator: Indicator;
  status: VerdictStatus;
  /** 0 (benign) … 1 (certainly malicious). Absent when status is unknown. */
  score?: number;
  /** How much this source's score should weigh, 0…1. */
  confidence?: number;
  /** Source-specific facts worth showing an analyst (detections, reports, pulse names…). */
  evidence?: Record<string, unknown>;
  /** Link to the source's page for this indicator. */
  reference?: string;
}
