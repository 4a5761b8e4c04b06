import type { Priority } from '../plugin-api/index.js';

/**
 * The one severity scale of the product: Sigma rule levels, the routing priority they give a
 * detection or alert, and the ECS `event.severity` number that goes with it. Detection,
 * correlation, enrichment and routing all read it from here.
 */
export type SigmaLevel = 'informational' | 'low' | 'medium' | 'high' | 'critical';

export const LEVEL_PRIORITY: Readonly<Record<SigmaLevel, Priority>> = { informational: 'info', low: 'low', medium: 'medium', high: 'high', critical: 'critical' };

export const PRIORITY_SEVERITY: Readonly<Record<Priority, number>> = { info: 0, low: 21, medium: 47, high: 73, critical: 99 };

export const LEVEL_SEVERITY: Readonly<Record<SigmaLevel, number>> = {
  informational: PRIORITY_SEVERITY.info,
  low: PRIORITY_SEVERITY.low,
  medium: PRIORITY_SEVERITY.medium,
  high: PRIORITY_SEVERITY.high,
  critical: PRIORITY_SEVERITY.critical,
};

/** Rank for comparisons and routing: higher is more urgent. */
export const PRIORITY_ORDER: Readonly<Record<Priority, number>> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
