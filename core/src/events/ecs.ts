import type { FabricEvent } from '../plugin-api/index.js';

/**
 * The ECS version whose fields Reactive Fabric writes (`ecs.version` of every published event);
 * the index templates in core/templates/ map that version's fields.
 */
export const ECS_VERSION = '8.17.0';

/**
 * What produced an `event.kind: "alert"` (`fabric.alert_type`): one rule match (detection stage)
 * or a correlation rule over detections. ECS has one kind for both — `signal` is reserved for
 * Elastic's own detection engine — so the product says which in its own namespace.
 */
export type AlertType = 'detection' | 'correlation';

export function alertTypeOf(e: FabricEvent): AlertType | undefined {
  if (e.event?.kind !== 'alert') return undefined;
  const t = (e.fabric as { alert_type?: unknown } | undefined)?.alert_type;
  return t === 'detection' || t === 'correlation' ? t : undefined;
}

/** A rule match of the detection stage: what correlation rules count. */
export function isDetection(e: FabricEvent): boolean {
  return alertTypeOf(e) === 'detection';
}

/** An alert of a correlation rule. */
export function isCorrelationAlert(e: FabricEvent): boolean {
  return alertTypeOf(e) === 'correlation';
}
