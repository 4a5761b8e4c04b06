import type { FabricHost } from '../host.js';
import type { FabricEvent } from '../plugin-api/index.js';

/**
 * The dashboard's detection feed: the last N alerts (rule matches, correlations, and alerts a source
 * sent as such) the sink acknowledged, reduced to
 * the fields an analyst triages on. Every string comes from data an attacker wrote, so each is
 * cut to a bounded length and arrays to a bounded count; the page renders them as text only.
 */

const MAX_TEXT = 300;
const MAX_LIST = 20;
/** `signal`: an Elastic detection-engine alert read from a source; Reactive Fabric itself writes `alert`. */
const FEED_KINDS = new Set(['alert', 'signal']);

export interface ReputationIndicator {
  type: string;
  value: string;
  verdict: string;
  score?: number;
}

export interface DetectionSummary {
  /** Feed sequence number (SSE id). */
  seq: number;
  id: string;
  /** `correlation`: a correlation rule's alert over detections; `detection` otherwise. */
  kind: 'detection' | 'correlation';
  at: string;
  priority: string;
  rule: string;
  title?: string;
  techniques: string[];
  sourceIp?: string;
  userName?: string;
  host?: string;
  collector: string;
  message?: string;
  /** Alerts: event ids of the member detections. */
  members?: string[];
  reputation?: { verdict: string; score?: number; explanation?: string; indicators: ReputationIndicator[] };
}

type Listener = (d: DetectionSummary) => void;

function text(v: unknown): string | undefined {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string' || v === '') return undefined;
  return v.length > MAX_TEXT ? `${v.slice(0, MAX_TEXT)}…` : v;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function strings(v: unknown): string[] {
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  const out: string[] = [];
  for (const x of list) {
    const t = text(x);
    if (t !== undefined) out.push(t);
    if (out.length >= MAX_LIST) break;
  }
  return out;
}

function first(v: unknown): string | undefined {
  return strings(v)[0];
}

export function summarize(e: FabricEvent, seq: number): DetectionSummary | undefined {
  const ev = e as unknown as Record<string, unknown>;
  const event = obj(ev.event) ?? {};
  const kind = event.kind;
  if (typeof kind !== 'string' || !FEED_KINDS.has(kind)) return undefined;
  const fabric = obj(ev.fabric) ?? {};
  const rule = obj(ev.rule) ?? {};
  // Ours: the Sigma name (what rules and disabled_rules refer to) and ECS rule.name is the title.
  const sigma = obj(fabric.rule);
  const match = obj(Array.isArray(fabric.matches) ? fabric.matches[0] : undefined) ?? {};
  const threat = obj(ev.threat) ?? {};
  const correlation = obj(fabric.correlation);
  const rep = obj(fabric.reputation);
  const out: DetectionSummary = {
    seq,
    id: text(event.id) ?? `seq-${seq}`,
    kind: fabric.alert_type === 'correlation' ? 'correlation' : 'detection',
    at: text(ev['@timestamp']) ?? new Date().toISOString(),
    priority: text(fabric.priority) ?? 'info',
    rule: text(sigma?.name) ?? text(match.name) ?? text(rule.name) ?? 'unknown',
    techniques: strings(obj(threat.technique)?.id),
    collector: text(fabric.collector) ?? 'unknown',
  };
  const title = sigma ? text(rule.name) : text(match.title);
  if (title) out.title = title;
  const ip = first(obj(ev.source)?.ip);
  if (ip) out.sourceIp = ip;
  const user = first(obj(ev.user)?.name);
  if (user) out.userName = user;
  const host = first(obj(ev.host)?.name);
  if (host) out.host = host;
  const message = text(ev.message);
  if (message) out.message = message;
  if (correlation) out.members = strings(correlation.members);
  if (rep) {
    const indicators: ReputationIndicator[] = [];
    for (const raw of Array.isArray(rep.indicators) ? rep.indicators.slice(0, MAX_LIST) : []) {
      const i = obj(raw);
      const type = text(i?.type);
      const value = text(i?.value);
      if (!i || !type || !value) continue;
      indicators.push({ type, value, verdict: text(i.verdict) ?? 'unknown', ...(typeof i.score === 'number' ? { score: i.score } : {}) });
    }
    out.reputation = {
      verdict: text(rep.verdict) ?? 'unknown',
      ...(typeof rep.score === 'number' ? { score: rep.score } : {}),
      ...(text(rep.explanation) ? { explanation: text(rep.explanation) } : {}),
      indicators,
    };
  }
  return out;
}

export class DetectionFeed {
  private readonly ring: DetectionSummary[] = [];
  private seq = 0;
  private readonly listeners = new Set<Listener>();
  // Runs inside the pipeline's publish path: whatever goes wrong here must never reach it.
  private readonly onPublished = (events: readonly FabricEvent[]): void => {
    for (const e of events) {
      let d: DetectionSummary | undefined;
      try {
        d = summarize(e, this.seq + 1);
      } catch (err) {
        this.onError(err as Error);
      }
      if (!d) continue;
      this.seq++;
      this.ring.push(d);
      if (this.ring.length > this.capacity) this.ring.shift();
      for (const l of this.listeners) {
        try {
          l(d);
        } catch (err) {
          this.onError(err as Error);
        }
      }
    }
  };

  constructor(
    private readonly host: FabricHost,
    private readonly capacity: number,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {
    host.events.on('published', this.onPublished);
  }

  /** Newest last; at most `limit`, after sequence number `after` when given. */
  recent(limit: number, after = 0): DetectionSummary[] {
    const items = after > 0 ? this.ring.filter((d) => d.seq > after) : this.ring;
    return items.slice(-limit);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.host.events.off('published', this.onPublished);
    this.listeners.clear();
  }
}
